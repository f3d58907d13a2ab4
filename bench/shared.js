// The shared-budget part of `npm run bench` (issue 7): four worker processes (bench/shared-worker.js), one
// API key, against a sluice server with the Sales-data preset (50 requests per 10 s, a fixed window aligned
// to the epoch; 429 beyond) on time `scale` times faster than real time. The server runs in this process;
// every process reads one scaled clock, `T0 + (Date.now() - W0) × scale` with T0 and W0 fixed here, so that
// all windows coincide. Each run: the workers connect, then send `GET /products` as fast as their limiter lets
// them for WINDOWS whole windows, starting on a window boundary. Per configuration: utilisation (2xx the
// server answered in the measured windows ÷ 50 per window) and the 429s it sent. Configurations: sluice's
// client with one shared budget in Redis, sluice's client with a budget per process (no sharing: the failure
// the documents warn about), and Bottleneck's Redis clustering mode set from the document's limit. Every
// round runs each configuration once in a rotating order; medians of rounds. A private redis-server
// (bench/redis-server.js); with taskset and ≥ 2 cores, the server (this process) is pinned to the last core
// and the workers to the others, and this process's affinity is restored afterwards.
import { execFileSync, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sluiceNode } from '../dist/http/node.js';
import { createEnforcer } from '../dist/policy/index.js';
import { presetOptions, salesData } from '../dist/presets/index.js';
import { findRedisServer, startRedisServer } from './redis-server.js';
import { median } from './throughput.js';

const WORKER = fileURLToPath(new URL('./shared-worker.js', import.meta.url));
const WORKERS = 4;
const LIMIT = 50;
const WINDOW_MS = 10_000;
/** Measured windows per run (60 s of the API's time). */
const WINDOWS = 6;
/** A whole number of windows. */
const T0 = 1_800_000_000_000;
/** Simulated upstream work per allowed request, in real time. */
const UPSTREAM_MS = 5;

const CONFIGURATIONS = [
  { mode: 'shared', name: 'sluice, shared budget (Redis)' },
  { mode: 'local', name: 'sluice, budget per process' },
  { mode: 'bottleneck', name: 'Bottleneck, Redis clustering' },
];

/** The Sales-data server on the scaled clock; counts 2xx per window (by arrival) and 429s. */
async function startServer(clock) {
  let guard;
  let counts;
  const reset = () => {
    guard = sluiceNode(createEnforcer({ ...presetOptions(salesData), clock }), {
      identify: () => ({ apiKey: 'bench' }),
    });
    counts = { okAt: [], tooMany: 0, other: 0 };
  };
  reset();
  const server = createServer(async (req, res) => {
    const atMs = clock();
    const mine = counts;
    res.once('finish', () => {
      if (res.statusCode >= 200 && res.statusCode < 300) mine.okAt.push(atMs);
      else if (res.statusCode === 429) mine.tooMany++;
      else mine.other++;
    });
    if ((await guard(req, res)) === undefined) return;
    await new Promise((resolve) => setTimeout(resolve, UPSTREAM_MS));
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    baseUrl: `http://127.0.0.1:${server.address().port}/`,
    reset,
    counts: () => counts,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Pins this process to the last core; returns the workers' cores and a restore function, or undefined. */
function pinning() {
  const count = cpus().length;
  if (count < 2) return undefined;
  try {
    const mask = execFileSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' }).match(
      /:\s*([0-9a-f]+)\s*$/i,
    )?.[1];
    if (mask === undefined) return undefined;
    execFileSync('taskset', ['-a', '-p', '-c', String(count - 1), String(process.pid)], { stdio: 'ignore' });
    return {
      server: count - 1,
      workers: `0-${count - 2}`,
      restore: () => execFileSync('taskset', ['-a', '-p', mask, String(process.pid)], { stdio: 'ignore' }),
    };
  } catch {
    return undefined;
  }
}

/** Worker children still running: should this process die without stopping them, they must not outlive it. */
const running = new Set();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts one worker; resolves once it is ready, with `run(span)` resolving its report. */
function startWorker(config, cores) {
  const argv = [WORKER, JSON.stringify(config)];
  const options = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] };
  // Pinned: `taskset` execs node in place, which inherits the IPC channel like a fork.
  const child =
    cores === undefined
      ? fork(argv[0], argv.slice(1), options)
      : spawn('taskset', ['-c', cores, process.execPath, ...argv], options);
  running.add(child);
  child.once('exit', () => running.delete(child));
  const next = (field) =>
    new Promise((resolve, reject) => {
      const onMessage = (message) => {
        if (message?.[field] === undefined) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message[field]);
      };
      const onExit = (code) => reject(new Error(`a shared-budget worker exited (${code}) before ${field}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  return next('ready').then(() => ({
    run: (span) => {
      const report = next('report');
      child.send(span);
      return report;
    },
  }));
}

/** One run of a configuration: WINDOWS whole windows; returns the server's figures. */
async function runOnce(config, { server, clock, redisPort, scale, w0, cores, runId }) {
  server.reset();
  const workerConfig = {
    mode: config.mode,
    name: `bench-shared-${config.mode}-${runId}`,
    baseUrl: server.baseUrl,
    redisPort,
    t0: T0,
    w0,
    scale,
  };
  const workers = await Promise.all(Array.from({ length: WORKERS }, () => startWorker(workerConfig, cores)));
  // The run starts on the next window boundary at least 200 ms (real time) away, so every window is whole.
  const startMs = Math.ceil((clock() + 200 * scale) / WINDOW_MS) * WINDOW_MS;
  const endMs = startMs + WINDOWS * WINDOW_MS;
  const reports = await Promise.all(workers.map((worker) => worker.run({ startMs, endMs })));
  const { okAt, tooMany, other } = server.counts();
  const perWindow = Array.from({ length: WINDOWS }, () => 0);
  for (const atMs of okAt) {
    if (atMs >= startMs && atMs < endMs) perWindow[Math.floor((atMs - startMs) / WINDOW_MS)]++;
  }
  const ok = perWindow.reduce((sum, n) => sum + n, 0);
  const errors = reports.reduce((sum, r) => sum + r.errors, 0);
  return { utilisation: ok / (LIMIT * WINDOWS), perWindow, tooMany, other, errors };
}

const pad = (text, width) => String(text).padEnd(width);
const pct = (x) => `${(x * 100).toFixed(1)} %`;

/**
 * Runs the shared-budget benchmark: `rounds` rounds of every configuration, the API's time `scale` times
 * faster than real time. Prints a notice and returns if redis-server is not on the PATH.
 */
export async function runSharedBench({ rounds, scale, log }) {
  const binary = findRedisServer();
  if (binary === undefined) {
    log('*** NOTICE: redis-server is not on the PATH: the shared-budget benchmark is SKIPPED. ***');
    return;
  }
  log(
    `Shared-budget benchmark: ${WORKERS} worker processes, one API key, against a sluice server with the ` +
      `Sales-data preset (${LIMIT} requests per 10 s, fixed window; 429 beyond), ${UPSTREAM_MS} ms of upstream ` +
      'work per allowed request.',
  );
  log(
    `  API time runs ${scale} × faster than real time in the server and every worker (one clock); each run ` +
      `sends as fast as its limiter lets for ${WINDOWS} whole windows (${(WINDOWS * WINDOW_MS) / 1000} s of ` +
      `API time, ${((WINDOWS * WINDOW_MS) / scale / 1000).toFixed(1)} s real), starting on a window boundary.`,
  );
  log(
    `  Utilisation: 2xx the server answered in the measured windows ÷ (${LIMIT} × ${WINDOWS}); 429s: all the ` +
      `server sent. ${rounds} rounds, each configuration once per round in a rotating order; medians.`,
  );
  const pin = pinning();
  log(
    pin === undefined
      ? '  Unpinned (no taskset or a single core).'
      : `  Pinned with taskset: the server on core ${pin.server}, the workers on ${pin.workers}; redis-server unpinned.`,
  );
  const redis = await startRedisServer(binary);
  const w0 = Date.now();
  const clock = () => T0 + (Date.now() - w0) * scale;
  const server = await startServer(clock);
  const results = new Map(CONFIGURATIONS.map((c) => [c, []]));
  try {
    for (let r = 0; r < rounds; r++) {
      const offset = r % CONFIGURATIONS.length;
      for (const config of [...CONFIGURATIONS.slice(offset), ...CONFIGURATIONS.slice(0, offset)]) {
        const context = { server, clock, redisPort: redis.port, scale, w0, cores: pin?.workers, runId: r };
        results.get(config).push(await runOnce(config, context));
      }
    }
  } finally {
    await server.close();
    await redis.stop();
    pin?.restore();
  }
  report(results, log);
}

function report(results, log) {
  log();
  log(
    `  ${pad('configuration', 32)}${pad('utilisation', 13)}${pad('429s', 7)}` +
      'per round: utilisation, 429s [2xx per window]',
  );
  for (const [config, runs] of results) {
    const perRound = runs
      .map((r) => `${pct(r.utilisation)} ${r.tooMany} [${r.perWindow.join(' ')}]`)
      .join('  ');
    log(
      `  ${pad(config.name, 32)}${pad(pct(median(runs.map((r) => r.utilisation))), 13)}` +
        `${pad(median(runs.map((r) => r.tooMany)), 7)}${perRound}`,
    );
    const odd = runs.filter((r) => r.other > 0 || r.errors > 0);
    for (const r of odd) log(`    ! ${r.other} statuses other than 2xx and 429, ${r.errors} client errors`);
  }
  const shared = results.get(CONFIGURATIONS[0]);
  const utilisation = median(shared.map((r) => r.utilisation));
  const tooMany = Math.max(...shared.map((r) => r.tooMany));
  const met = utilisation >= 0.95 && tooMany === 0;
  log();
  log(
    `Target (issue 7): shared across ${WORKERS} processes, ≥ 95 % utilisation with zero 429s: ` +
      `${pct(utilisation)}, ${tooMany} 429s (most in a round) → ${met ? 'met' : 'NOT met'}.`,
  );
}
