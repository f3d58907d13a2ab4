// The HTTP part of `npm run bench`: requests per second through Express and Fastify, bare and with a rate
// limiter (sluice's adapter, and each framework's usual limiter), on a trivial JSON route. autocannon runs
// here; each server runs in a child process of its own (bench/http-server.js). Every server is started
// once and warmed up; then each round measures every cell once, in a rotating order, so that the machine's
// noise falls on all alike. A cell's figure is the median of its rounds; a limiter's cost is the median of
// its per-round ratios to the bare framework measured in the same round. Every response's status is
// counted and checked (200 under the limit, 429 over it): a run that measured anything else fails.
import { fork, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { pinning, running } from './pinning.js';
import { findRedisServer, startRedisServer } from './redis-server.js';
import { median } from './throughput.js';

const SERVER = fileURLToPath(new URL('./http-server.js', import.meta.url));
const FRAMEWORKS = [
  { id: 'express', label: 'Express', peer: 'express-rate-limit' },
  { id: 'fastify', label: 'Fastify', peer: '@fastify/rate-limit' },
];
const SCENARIOS = [
  { id: 'allowed', label: 'all allowed (limit 1e9 per hour)', status: 200 },
  {
    id: 'over',
    label: 'all over the limit (1 per hour: every request after the first gets 429)',
    status: 429,
  },
];
const STORES = [
  { id: 'memory', label: 'memory store (each limiter its own default)' },
  {
    id: 'redis',
    label: 'Redis (sluice: createRedisStore over ioredis; rate-limit-redis; @fastify/rate-limit `redis`)',
  },
];

const pad = (text, width) => String(text).padEnd(width);
const fmt = (rps) => `${(rps / 1e3).toFixed(1)}k/s`;
const ratioOf = (as, bs) => median(as.map((a, r) => a / bs[r]));

/** Starts one server child; resolves `{ port, stop() }`. */
function startServer(cell, redisPort) {
  const args = [cell.framework.id, cell.variant, cell.scenario?.id ?? '-', cell.store?.id ?? '-'];
  const options = {
    env: { ...process.env, SLUICE_BENCH_REDIS_PORT: String(redisPort ?? '') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  };
  const execArgv = cell.execArgv ?? [];
  // Pinned: `taskset` execs node in place, which inherits the IPC channel like a fork.
  const child =
    cell.core === undefined
      ? fork(SERVER, args, { ...options, execArgv })
      : spawn('taskset', ['-c', String(cell.core), process.execPath, ...execArgv, SERVER, ...args], options);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  running.add(child);
  exited.then(() => running.delete(child));
  return new Promise((resolve, reject) => {
    child.once('message', ({ port }) =>
      resolve({
        port,
        stop: async () => {
          child.disconnect();
          await exited;
        },
      }),
    );
    child.once('exit', (code) =>
      reject(new Error(`${cell.name}: the server exited (${code}) before listening`)),
    );
  });
}

/** One autocannon run against a cell; returns requests per second after checking every status. */
async function run(cell, { connections, duration }) {
  const result = await autocannon({ url: `http://127.0.0.1:${cell.port}/items`, connections, duration });
  const statuses = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]),
  );
  const expected = cell.scenario?.status ?? 200;
  const good = statuses[expected] ?? 0;
  // A benchmark that measures nothing is a defect: every response must be the one the scenario calls for.
  // (Over the limit, the very first request of a fresh memory store is let through: only in the warm-up.)
  const tolerated = !cell.warm && expected === 429 && statuses[200] === 1 ? 1 : 0;
  if (result.errors > 0 || result.timeouts > 0 || good + tolerated !== result.requests.total || good === 0) {
    throw new Error(
      `${cell.name}: expected every response to be ${expected}, got ${JSON.stringify(statuses)} ` +
        `of ${result.requests.total} requests (${result.errors} errors, ${result.timeouts} timeouts)`,
    );
  }
  if (cell.warm) cell.checked += good;
  return result.requests.total / result.duration;
}

function cellsFor(stores) {
  const cells = [];
  for (const framework of FRAMEWORKS)
    cells.push({ framework, variant: 'bare', name: `${framework.label} (bare)` });
  for (const store of stores) {
    for (const scenario of SCENARIOS) {
      for (const framework of FRAMEWORKS) {
        cells.push({ framework, store, scenario, variant: 'sluice', name: `${framework.label} + sluice` });
        cells.push({
          framework,
          store,
          scenario,
          variant: 'peer',
          name: `${framework.label} + ${framework.peer}`,
        });
      }
    }
  }
  for (const cell of cells) {
    cell.values = [];
    cell.checked = 0;
    if (cell.store !== undefined) cell.name += ` [${cell.store.id}, ${cell.scenario.id}]`;
  }
  return cells;
}

/**
 * Runs the HTTP benchmark. `rounds` × `duration` seconds per cell at `connections` connections, after a
 * warm-up of `warmup` seconds per server. `skipRedis`: memory rows only. `profile`: node flags for the
 * server children (e.g. ['--cpu-prof', '--cpu-prof-dir=prof']).
 */
export async function runHttpBench({ rounds, duration, warmup, connections, skipRedis, profile, log }) {
  // Pinned before redis-server starts, which then shares the load generator's cores.
  const core = pinning();
  let redis;
  const stores = [STORES[0]];
  if (!skipRedis) {
    const binary = findRedisServer();
    if (binary === undefined) {
      log("*** NOTICE: redis-server is not on the PATH: the HTTP benchmark's Redis rows are SKIPPED. ***");
    } else {
      redis = await startRedisServer(binary);
      stores.push(STORES[1]);
    }
  }
  const cells = cellsFor(stores);
  log(
    `HTTP benchmark: GET /items → {"ok":true}; autocannon in this process, ${connections} connections, ` +
      `${rounds} interleaved rounds of ${duration} s per cell after a ${warmup} s warm-up, medians.`,
  );
  log(
    `  This machine has ${cpus().length} cores, shared by the load generator (this process), the server ` +
      '(a child process per cell, all started up front, one under load at a time) and redis-server. ' +
      'Compare figures within this run only.',
  );
  log(
    core === undefined
      ? '  Unpinned (no taskset or a single core): the scheduler places the processes.'
      : `  Pinned with taskset: every server on core ${core}, the load generator and redis-server on the others.`,
  );
  log(
    '  Every limiter is keyed by client IP and all the load comes from 127.0.0.1: one key for every ' +
      'request, a hot-key worst case. One fixed window of an hour; otherwise each limiter with its defaults.',
  );
  try {
    await Promise.all(
      cells.map(async (cell) => {
        if (profile !== undefined && cell.variant !== 'bare') cell.execArgv = profile;
        cell.core = core;
        Object.assign(cell, await startServer(cell, redis?.port));
      }),
    );
    for (const cell of cells) {
      cell.warm = false;
      await run(cell, { connections, duration: warmup });
      cell.warm = true;
    }
    for (let r = 0; r < rounds; r++) {
      const offset = r % cells.length;
      for (const cell of [...cells.slice(offset), ...cells.slice(0, offset)]) {
        cell.values.push(await run(cell, { connections, duration }));
      }
    }
  } finally {
    await Promise.all(cells.filter((c) => c.stop !== undefined).map((c) => c.stop()));
    await redis?.stop();
  }
  report(cells, stores, log);
}

function report(cells, stores, log) {
  const bare = new Map(cells.filter((c) => c.variant === 'bare').map((c) => [c.framework.id, c]));
  log();
  log(`  ${pad('bare framework', 58)}${pad('median', 11)}min–max`);
  for (const cell of bare.values()) {
    log(`  ${pad(cell.name, 58)}${pad(fmt(median(cell.values)), 11)}${range(cell.values)}`);
  }
  const targets = [];
  for (const store of stores) {
    for (const scenario of SCENARIOS) {
      log();
      log(`${store.label}, ${scenario.label}`);
      log(`  ${pad('server', 58)}${pad('median', 11)}${pad('min–max', 19)}× bare  ${scenario.status}s`);
      for (const framework of FRAMEWORKS) {
        const of = (variant) =>
          cells.find(
            (c) =>
              c.framework === framework &&
              c.store === store &&
              c.scenario === scenario &&
              c.variant === variant,
          );
        const base = bare.get(framework.id);
        const sluice = of('sluice');
        const peer = of('peer');
        for (const cell of [sluice, peer]) {
          log(
            `  ${pad(cell.name, 58)}${pad(fmt(median(cell.values)), 11)}${pad(range(cell.values), 19)}` +
              `${pad(ratioOf(cell.values, base.values).toFixed(2), 8)}${cell.checked.toLocaleString('en')}`,
          );
        }
        // sluice's share of the bare throughput over the peer's, per round (the bare figure cancels out).
        const vsPeer = ratioOf(sluice.values, peer.values);
        log(
          `  ${pad(`  sluice vs ${framework.peer} (ratio of ratios to bare ${framework.label})`, 88)}${vsPeer.toFixed(2)}`,
        );
        if (scenario.id === 'allowed') targets.push({ store, framework, sluice, peer, base, vsPeer });
      }
    }
  }
  log();
  log(
    "Target: on the allowed path, sluice costs less throughput than the framework's usual limiter " +
      '(higher ratio to the bare framework, same run), with the memory store and with Redis.',
  );
  for (const t of targets) {
    const s = ratioOf(t.sluice.values, t.base.values);
    const p = ratioOf(t.peer.values, t.base.values);
    log(
      `  ${pad(`${t.framework.label}, ${t.store.id}:`, 18)}sluice ${s.toFixed(2)} × bare vs ${t.framework.peer} ` +
        `${p.toFixed(2)} × bare → ${t.vsPeer.toFixed(2)}${t.vsPeer > 1 ? ' met' : ' NOT met'}`,
    );
  }
}

const range = (values) => `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
