import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bucketExcess,
  idealAdmissions,
  maxInAlignedWindow,
  maxInAnyInterval,
  replayAdmissions,
  SCENARIOS,
  type WorkerReport,
} from './accuracy.js';
import { type RedisServer, redisAvailable, startRedisServer } from './harness.js';

const WORKERS = 4;
const DURATION_MS = 4000;
const IN_FLIGHT = 3;
const WORKER = fileURLToPath(new URL('./hammer-worker.ts', import.meta.url));

/** Runs one worker process to completion and parses its report. */
function runWorker(port: number, startAt: number, suffix: string): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        WORKER,
        String(port),
        String(startAt),
        String(DURATION_MS),
        suffix,
        String(IN_FLIGHT),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.once('error', reject);
    // 'close', not 'exit': 'exit' may come before the last of stdout has been read (a large report).
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`));
      else resolve(JSON.parse(out) as WorkerReport);
    });
  });
}

describe.runIf(redisAvailable())('distributed accuracy: 4 processes, one key, one Redis', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('never admits more than the limit allows, and admits ≥ 95 % of it (peers reported side by side)', async () => {
    // Every process is loaded and connected before the start, which falls on a whole second, so that the
    // measured span [start, deadline) holds whole windows.
    const startAt = Math.ceil((Date.now() + 2500) / 1000) * 1000;
    const deadline = startAt + DURATION_MS;
    const suffix = String(Date.now());
    const reports = await Promise.all(
      Array.from({ length: WORKERS }, () => runWorker(server.port, startAt, suffix)),
    );

    const rows = [];
    for (const scenario of SCENARIOS) {
      const parts = reports.map((report) => report[scenario.name]!);
      const times = parts.flatMap((part) => part.admitted).sort((a, b) => a - b);
      const inSpan = times.filter((t) => t >= startAt && t < deadline).length;
      const { limit, windowMs } = scenario.bound;
      const sluice = scenario.kind === 'sluice' ? scenario.limit : undefined;
      const ideal = sluice && idealAdmissions(sluice, startAt, deadline - 1);
      rows.push({
        scenario: scenario.name,
        clock: sluice ? 'Redis TIME' : 'client receipt',
        calls: parts.reduce((sum, part) => sum + part.calls, 0),
        admitted: times.length,
        perWorker: parts.map((part) => part.admitted.length).join('/'),
        // What one caller making the same attempts at the same times would be admitted: equal when the
        // processes shared the budget exactly (no lost update, no double spend).
        replayed:
          sluice &&
          replayAdmissions(
            sluice,
            parts.flatMap((part) => part.attempts).sort((a, b) => a - b),
          ),
        'max per aligned window': maxInAlignedWindow(times, windowMs),
        'max in any window-long interval': maxInAnyInterval(times, windowMs),
        bound: limit,
        'admitted in span': inSpan,
        'greedy ideal in span': ideal,
        utilization: ideal === undefined ? undefined : `${((100 * inSpan) / ideal).toFixed(1)} %`,
        excess:
          sluice?.kind === 'tokenBucket' ? bucketExcess(times, sluice.burst, sluice.tokensPerMs) : undefined,
      });
    }
    console.log(
      `\nDistributed accuracy: ${WORKERS} processes × ${IN_FLIGHT} in flight per scenario, ${DURATION_MS} ms, one key each\n` +
        '(sluice times are Redis TIME from each decision; the peers report no decision time, so theirs are\n' +
        'client receipt times, which can only blur their bursts, never create them. A fixed window admits up to\n' +
        '2× its limit in an interval that straddles a window edge, whoever implements it; a bucket never does)',
    );
    console.table(rows);

    for (const [i, scenario] of SCENARIOS.entries()) {
      const row = rows[i]!;
      // Every process took part.
      expect(
        row.perWorker.split('/').every((n) => Number(n) > 0),
        row.scenario,
      ).toBe(true);
      if (scenario.kind !== 'sluice') continue;
      expect(row.admitted, row.scenario).toBe(row.replayed);
      // Never more than a perfectly greedy caller over the span, and at least 95 % of it.
      expect(row['admitted in span'], row.scenario).toBeLessThanOrEqual(row['greedy ideal in span']!);
      expect(row['admitted in span'], row.scenario).toBeGreaterThanOrEqual(
        0.95 * row['greedy ideal in span']!,
      );
      if (scenario.limit.kind === 'tokenBucket') {
        // No interval [t_i, t_j] ever held more than burst + rate × (t_j - t_i) admissions.
        expect(row.excess!, row.scenario).toBeLessThanOrEqual(1e-6);
      } else {
        // At most `limit` in every aligned window.
        expect(row['max per aligned window'], row.scenario).toBeLessThanOrEqual(row.bound);
      }
    }
  }, 60_000);
});
