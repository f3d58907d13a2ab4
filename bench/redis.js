// The Redis part of `npm run bench`: decisions per second against a private redis-server, for 1 and 64
// calls in flight and 1 and 3 limits per decision, every implementation side by side in one run. Rounds
// are interleaved (each round measures every cell once, in a rotating order) so that the machine's noise
// falls on all alike; a cell's figure is the median of its rounds, and a ratio is the median of the
// per-round ratios (both measured within the same round). Then Redis commands per decision, counted by the
// server itself.
import { cpus } from 'node:os';
import { connectClients, REDIS_IMPLEMENTATIONS } from './redis-peers.js';
import { findRedisServer, startRedisServer } from './redis-server.js';
import { countCommands } from './redis-stats.js';
import { median } from './throughput.js';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
export const REDIS_SCENARIOS = [
  { id: '1/1', label: '1 in flight, 1 limit', inFlight: 1, limits: 1 },
  { id: '64/1', label: '64 in flight, 1 limit', inFlight: 64, limits: 1 },
  { id: '64/3', label: '64 in flight, 3 limits', inFlight: 64, limits: 3 },
  { id: '1/3', label: '1 in flight, 3 limits', inFlight: 1, limits: 3 },
];
const MEASURE_ORDER = ['64/1', '64/3', '1/1', '1/3'];
const STATS_DECISIONS = 2_000;
/** Decisions per cell and round: `ops` at 64 in flight, a quarter at 1 in flight (a round trip each). */
const cellOps = (scenario, ops) => (scenario.inFlight === 1 ? Math.max(1, Math.round(ops / 4)) : ops);

/** Makes `ops` decisions with `inFlight` calls outstanding at all times; returns how many were allowed. */
async function drive(subject, ops) {
  const { call, scenario } = subject;
  const base = subject.cursor;
  subject.cursor += ops;
  let next = 0;
  let allowed = 0;
  const worker = async () => {
    while (next < ops) {
      const i = next++;
      if (await call(KEYS[(base + i) % KEYS.length])) allowed++;
    }
  };
  await Promise.all(Array.from({ length: scenario.inFlight }, worker));
  // A benchmark that measures nothing is a defect: every decision must be a real "allowed".
  if (allowed !== ops) throw new Error(`${subject.name} (${scenario.label}): ${allowed} of ${ops} allowed`);
  subject.allowed += allowed;
  subject.decisions += ops;
  return allowed;
}

async function measure(subject, ops) {
  const start = process.hrtime.bigint();
  await drive(subject, ops);
  return (ops / Number(process.hrtime.bigint() - start)) * 1e9;
}

const fmt = (opsPerSec) => `${(opsPerSec / 1e3).toFixed(1)}k/s`;
const pad = (text, width) => String(text).padEnd(width);
const ratio = (as, bs) => median(as.map((a, r) => a / bs[r]));

/**
 * Runs the Redis benchmark. `only`: peer names to keep (by substring; sluice and the floor always stay).
 * Prints a notice and returns if redis-server is not on the PATH.
 */
export async function runRedisBench({ rounds, ops, log, only }) {
  const binary = findRedisServer();
  if (binary === undefined) {
    log('*** NOTICE: redis-server is not on the PATH: the Redis benchmark is SKIPPED. ***');
    return;
  }
  const server = await startRedisServer(binary);
  let clients;
  try {
    clients = await connectClients(server.port);
    const version = (await clients.ioredis.info('server')).match(/redis_version:(\S+)/)?.[1];
    log(
      `Redis benchmark: redis-server ${version} on 127.0.0.1:${server.port} (no persistence), ` +
        `${KEYS.length.toLocaleString('en')} keys round-robin, ${rounds} interleaved rounds of ` +
        `${ops.toLocaleString('en')} decisions per cell at 64 in flight ` +
        `(${cellOps({ inFlight: 1 }, ops).toLocaleString('en')} at 1 in flight), medians.`,
    );
    log(
      `  This machine has ${cpus().length} cores, shared by this process (the clients) and redis-server: ` +
        'at 64 in flight both are busy and compete. Compare figures within this run only.',
    );
    const impls = REDIS_IMPLEMENTATIONS.filter(
      (i) => only === undefined || i.role !== 'peer' || only.some((o) => i.name.includes(o)),
    );
    const subjects = [];
    for (const impl of impls) {
      for (const scenario of REDIS_SCENARIOS.filter((s) => impl.scenarios.includes(s.id))) {
        const call = await impl.make(clients, scenario.limits);
        subjects.push({
          name: impl.name,
          role: impl.role,
          scenario,
          call,
          cursor: 0,
          allowed: 0,
          decisions: 0,
          rates: [],
        });
      }
    }
    // Warm-up: every key seen once (state created, scripts loaded, JIT settled).
    for (const subject of subjects) await drive(subject, KEYS.length);
    // Cells compared with each other are measured back to back: one scenario's implementations in a
    // rotating order, and the 1- and 3-limit scenarios of one concurrency next to each other.
    for (let round = 0; round < rounds; round++) {
      for (const id of MEASURE_ORDER) {
        const cells = subjects.filter((s) => s.scenario.id === id);
        for (let i = 0; i < cells.length; i++) {
          const subject = cells[(i + round) % cells.length];
          subject.rates.push(await measure(subject, cellOps(subject.scenario, ops)));
        }
      }
      globalThis.gc?.();
      log(`  round ${round + 1} of ${rounds} measured`);
    }
    report(impls, subjects, log);
    log();
    log(
      `Redis commands per decision (${STATS_DECISIONS.toLocaleString('en')} decisions per cell after ` +
        'CONFIG RESETSTAT, from INFO commandstats; MONITOR tells top-level commands from those run by scripts)',
    );
    log(
      `  ${pad('implementation', 30)}${pad('scenario', 24)}${pad('top-level', 15)}` +
        `${pad('inside scripts', 40)}${pad('server µs/dec.', 16)}allowed (all runs)`,
    );
    for (const subject of subjects) {
      const counts = await countCommands(clients.ioredis, STATS_DECISIONS, () =>
        drive(subject, STATS_DECISIONS),
      );
      const allowed = `${subject.allowed.toLocaleString('en')} of ${subject.decisions.toLocaleString('en')}`;
      log(
        `  ${pad(subject.name, 30)}${pad(subject.scenario.label, 24)}${pad(counts.topLevel.join(', '), 15)}` +
          `${pad(counts.inScripts.join(', ') || '—', 40)}${pad(counts.serverUsec.toFixed(1), 16)}${allowed}`,
      );
      if (counts.disagreements.length > 0)
        log(`    (the two passes differ: ${counts.disagreements.join('; ')})`);
    }
    log(
      '  Server µs per decision: commandstats usec of the top-level commands (their scripts included), from ' +
        'the pass without MONITOR. At 64 in flight the single-threaded server is the usual bottleneck.',
    );
  } finally {
    await clients?.close();
    await server.stop();
  }
}

function report(impls, subjects, log) {
  const cell = (name, id) => subjects.find((s) => s.name === name && s.scenario.id === id);
  const floorName = impls.find((i) => i.role === 'floor').name;
  log();
  log('Redis decisions per second: median of the rounds; × floor is the median of the per-round ratios.');
  log(`  ${pad('implementation', 30)}${REDIS_SCENARIOS.map((s) => pad(s.label, 26)).join('')}`);
  for (const impl of impls) {
    const cells = REDIS_SCENARIOS.map((s) => {
      const c = cell(impl.name, s.id);
      if (c === undefined) return pad('—', 26);
      const floor = cell(floorName, s.id);
      const vs = impl.role === 'floor' ? '' : ` × ${ratio(c.rates, floor.rates).toFixed(2)}`;
      return pad(`${fmt(median(c.rates))}${vs}`, 26);
    });
    log(`  ${pad(impl.name, 30)}${cells.join('')}`);
  }
  log(`  ${pad('spread (min–max)', 30)}`);
  for (const impl of impls) {
    const cells = REDIS_SCENARIOS.map((s) => {
      const c = cell(impl.name, s.id);
      return pad(c === undefined ? '—' : `${fmt(Math.min(...c.rates))}–${fmt(Math.max(...c.rates))}`, 26);
    });
    log(`  ${pad(impl.name, 30)}${cells.join('')}`);
  }
  const three = (name, inFlight) => {
    const one = cell(name, `${inFlight}/1`);
    const many = cell(name, `${inFlight}/3`);
    return one && many ? ratio(many.rates, one.rates) : undefined;
  };
  log('  3 limits ÷ 1 limit (per-round ratios, median):');
  for (const impl of impls) {
    const r64 = three(impl.name, 64);
    const r1 = three(impl.name, 1);
    if (r64 !== undefined)
      log(
        `    ${pad(impl.name, 28)}64 in flight ${r64.toFixed(2)}   1 in flight ${r1 === undefined ? '—' : r1.toFixed(2)}`,
      );
  }

  const sluice = cell('sluice (ioredis)', '64/1');
  const vsFloor = ratio(sluice.rates, cell(floorName, '64/1').rates);
  const mark = (ok) => (ok ? 'met' : 'BELOW');
  log();
  log('Targets (issue "Redis store"), 64 in flight unless said:');
  log(`  sluice ≥ 0.90 × the floor, 1 limit: ${vsFloor.toFixed(2)} ${mark(vsFloor >= 0.9)}`);
  for (const peer of impls.filter((i) => i.role === 'peer')) {
    const vs = ratio(sluice.rates, cell(peer.name, '64/1').rates);
    log(`  sluice ahead of ${peer.name}, 1 limit: ${vs.toFixed(2)} × ${mark(vs > 1)}`);
  }
  const r64 = three('sluice (ioredis)', 64);
  const r1 = three('sluice (ioredis)', 1);
  log(`  sluice with 3 limits ≥ 0.75 × its 1-limit rate: ${r64.toFixed(2)} ${mark(r64 >= 0.75)}`);
  log(`    (1 in flight, for reference: ${r1.toFixed(2)} ${mark(r1 >= 0.75)})`);
}
