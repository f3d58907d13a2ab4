// Decisions per second for every implementation on four paths, interleaved round by round so that the
// machine's noise falls on all of them alike; the result per implementation is the median of the rounds.
import { IMPLEMENTATIONS } from './peers.js';

const KEYS_100K = Array.from({ length: 100_000 }, (_, i) => `user-${i}`);
const HOT = ['hot-key'];

export const SCENARIOS = [
  { name: 'hot key, allowed', path: 'allowed', keys: HOT },
  { name: 'hot key, denied', path: 'denied', keys: HOT },
  { name: '100k keys, allowed', path: 'allowed', keys: KEYS_100K },
  { name: '100k keys, denied', path: 'denied', keys: KEYS_100K },
];

// One timing loop per implementation, each compiled on its own (as benchmark.js does), so that each call
// site sees one implementation, as a real middleware's does, rather than all of them at once.
const SYNC_LOOP = `let allowed = 0;
  for (let i = 0; i < ops; i++) if (call(keys[i % keys.length])) allowed++;
  return allowed;`;
const ASYNC_LOOP = `let allowed = 0;
  for (let i = 0; i < ops; i++) if (await call(keys[i % keys.length])) allowed++;
  return allowed;`;
const AsyncFunction = (async () => {}).constructor;
const loops = new Map();
function loopFor(impl, scenario, async) {
  const id = `${impl.name}/${scenario.name}`;
  if (!loops.has(id)) {
    loops.set(
      id,
      async
        ? new AsyncFunction('call', 'keys', 'ops', ASYNC_LOOP)
        : new Function('call', 'keys', 'ops', SYNC_LOOP),
    );
  }
  return loops.get(id);
}

async function measure(impl, scenario, ops) {
  const subject = impl.make(scenario.path);
  const { keys } = scenario;
  const loop = loopFor(impl, scenario, subject.async);
  // Warm-up through the same loop: every key is seen (and on the denied path spent), the JIT settles.
  await loop(subject.call, keys, Math.max(keys.length, 50_000));
  const start = process.hrtime.bigint();
  const allowed = await loop(subject.call, keys, ops);
  const ns = Number(process.hrtime.bigint() - start);
  // A benchmark that measures nothing is a defect: each path must really allow, or really deny.
  const expected = scenario.path === 'allowed' ? ops : 0;
  if (allowed !== expected)
    throw new Error(`${impl.name} on "${scenario.name}": ${allowed} of ${ops} allowed`);
  return (ops / ns) * 1e9;
}

export async function runThroughput({
  rounds,
  ops,
  log,
  implementations = IMPLEMENTATIONS,
  scenarios = SCENARIOS,
}) {
  const results = new Map(); // scenario → impl → [ops/s per round]
  for (const scenario of scenarios) {
    const perImpl = new Map(implementations.map((impl) => [impl.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const impl of implementations) perImpl.get(impl.name).push(await measure(impl, scenario, ops));
      globalThis.gc?.();
    }
    results.set(scenario.name, perImpl);
    log(`  measured ${scenario.name}`);
  }
  return results;
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
