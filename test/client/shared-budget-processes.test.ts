import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { salesData } from '../../src/presets/sales-data.js';
import { type RedisServer, redisAvailable, startRedisServer } from '../redis/harness.js';
import { type ScaledServer, startScaledServer } from './scaled-server.js';
import type { WorkerConfig, WorkerReport } from './shared-worker.js';

/*
 * Issue 7, test "4 worker processes": four OS processes, each its own client, against a sluice server with
 * the Sales-data preset (50 requests per 10 s per API key, a fixed window aligned to the epoch; 429 beyond),
 * on time that runs SCALE times faster than the wall clock. Every process and the server read one scaled
 * clock, `T0 + (Date.now() - W0) * SCALE` with T0 and W0 fixed here, so their windows coincide; the Redis
 * store of the shared budget runs on it too (its `clock` option), not on Redis's TIME. The client options
 * (a fixed window at margin 0.96, why not the preset's sliding window at 0.9) are explained in
 * ./shared-worker.ts, `workerClientOptions`.
 */

const WORKERS = 4;
const SCALE = 10;
const WINDOW_MS = 10_000;
/** Measured windows: 60 s of the API's time, 6 s of wall time. */
const WINDOWS = 6;
const LIMIT = 50;
/** A whole number of windows, so that the epoch-aligned windows start on whole scaled seconds. */
const T0 = 1_800_000_000_000;
const WORKER = fileURLToPath(new URL('./shared-worker.ts', import.meta.url));

interface Run {
  /** 2xx the server answered in each measured window. */
  readonly perWindow: number[];
  /** 429s the server sent, during the whole run. */
  readonly tooMany: number;
  /** 2xx over the measured windows ÷ (LIMIT × WINDOWS). */
  readonly utilisation: number;
  readonly reports: WorkerReport[];
}

/** Forks one worker; resolves once it is connected and ready, with a function that runs it to its report. */
function startWorker(config: WorkerConfig): Promise<{ run: (span: object) => Promise<WorkerReport> }> {
  const child: ChildProcess = fork(WORKER, [JSON.stringify(config)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>(field: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: Record<string, unknown>) => {
        if (message[field] === undefined) return;
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve(message[field] as T);
      };
      const onExit = (code: number | null) => reject(new Error(`a worker exited (${code}) before ${field}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  return next<true>('ready').then(() => ({
    run: (span) => {
      const report = next<WorkerReport>('report');
      child.send(span);
      return report;
    },
  }));
}

/** Runs the four workers over WINDOWS whole windows of the server's time and counts what the server saw. */
async function runScenario(
  server: ScaledServer,
  clock: () => number,
  redis: RedisServer,
  mode: WorkerConfig['mode'],
  w0: number,
): Promise<Run> {
  const config: WorkerConfig = {
    baseUrl: server.url,
    redisPort: redis.port,
    mode,
    name: `sales-${mode}-${Date.now()}`,
    t0: T0,
    w0,
    scale: SCALE,
  };
  const workers = await Promise.all(Array.from({ length: WORKERS }, () => startWorker(config)));
  // Every worker is connected; the run starts on the next window boundary at least 200 ms (wall) away.
  const startMs = Math.ceil((clock() + 200 * SCALE) / WINDOW_MS) * WINDOW_MS;
  const endMs = startMs + WINDOWS * WINDOW_MS;
  const before = server.log.length;
  const reports = await Promise.all(workers.map((worker) => worker.run({ startMs, endMs })));
  const log = server.log.slice(before);
  // The start is a window boundary, so the first window is whole: no partial window to exclude.
  const perWindow = Array.from({ length: WINDOWS }, () => 0);
  for (const entry of log) {
    if (entry.status < 200 || entry.status >= 300 || entry.atMs < startMs || entry.atMs >= endMs) continue;
    const i = Math.floor((entry.atMs - startMs) / WINDOW_MS);
    perWindow[i] = (perWindow[i] ?? 0) + 1;
  }
  const ok = perWindow.reduce((sum, n) => sum + n, 0);
  return {
    perWindow,
    tooMany: log.filter((entry) => entry.status === 429).length,
    utilisation: ok / (LIMIT * WINDOWS),
    reports,
  };
}

const describe_ = (run: Run) =>
  `2xx per window ${run.perWindow.join(', ')} (limit ${LIMIT}): ${(run.utilisation * 100).toFixed(1)} % of ` +
  `the limit; ${run.tooMany} 429s; per worker (2xx/429s received/errors): ` +
  run.reports.map((r) => `${r.ok}/${r.throttled}/${r.errors}`).join(' ');

describe.runIf(redisAvailable())('4 worker processes, one Sales-data API key (time-scaled)', () => {
  let redis: RedisServer;
  let server: ScaledServer;
  const w0 = Date.now();
  const clock = () => T0 + (Date.now() - w0) * SCALE;
  beforeAll(async () => {
    redis = await startRedisServer();
    server = await startScaledServer(salesData, { clock }, { latencyMs: 5 });
  });
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it('one shared Redis budget: zero 429s and ≥ 95 % of the limit', async () => {
    const run = await runScenario(server, clock, redis, 'shared', w0);
    console.info(`[shared budget, Redis] ${describe_(run)}`);
    expect(run.tooMany).toBe(0);
    expect(run.utilisation).toBeGreaterThanOrEqual(0.95);
    for (const report of run.reports) expect(report.errors).toBe(0);
  }, 30_000);

  it('per-process budgets (no `budget`): the failure the documents warn about, reported', async () => {
    const run = await runScenario(server, clock, redis, 'local', w0);
    // Reported, not asserted as a pass: four processes each pacing to 48 per window send about 4 × 48 = 192
    // per window against a limit of 50, so the server answers 429 to the excess.
    console.info(`[per-process budgets] ${describe_(run)}`);
    expect(run.perWindow).toHaveLength(WINDOWS);
  }, 30_000);
});
