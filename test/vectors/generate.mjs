// Writes test/vectors/generated.json: a parity corpus of random traffic, decided by the pure algorithms.
// The hand-written vectors beside it are the specification; this corpus exists so that every other
// implementation of the same math (the Redis store's Lua scripts) is held to identical decisions on varied
// inputs. Regenerate only when the math changes on purpose:
//   npm run build && node test/vectors/generate.mjs
import { writeFileSync } from 'node:fs';
import { fixedWindow, slidingWindow, step, tokenBucket } from '../../dist/index.js';

let seed = 20261122;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pickOne = (items) => items[Math.floor(random() * items.length)];

const limits = [
  { kind: 'tokenBucket', rate: 10, per: '1s', burst: 60 },
  { kind: 'tokenBucket', rate: 3, per: '1s', burst: 5 },
  { kind: 'tokenBucket', rate: 30, per: '10s', burst: 30 },
  { kind: 'tokenBucket', rate: 1, per: '5m', burst: 1 },
  { kind: 'tokenBucket', rate: 0.5, per: '1s', burst: 2.5 },
  { kind: 'fixedWindow', limit: 50, window: '10s' },
  { kind: 'fixedWindow', limit: 7, window: '333ms' },
  { kind: 'fixedWindow', limit: 2.5, window: '1m' },
  { kind: 'slidingWindow', limit: 200, window: '10s' },
  { kind: 'slidingWindow', limit: 20, window: '30s' },
  { kind: 'slidingWindow', limit: 5, window: '1s' },
  { kind: 'slidingWindow', limit: 3.5, window: '777ms' },
];
const build = ({ kind, ...options }) =>
  kind === 'tokenBucket'
    ? tokenBucket(options)
    : kind === 'fixedWindow'
      ? fixedWindow(options)
      : slidingWindow(options);
const spell = (value) => (value === Number.POSITIVE_INFINITY ? 'Infinity' : value);

const vectors = limits.map((spec, index) => {
  const limit = build(spec);
  const startMs = 1_700_000_000_000 + Math.floor(random() * 100_000);
  let atMs = 0;
  let state;
  const arrivals = [];
  for (let i = 0; i < 80; i++) {
    atMs += pickOne([0, 0, 1, 7, 50, 120, 333, 1000, 4000, Math.floor(random() * 20_000)]);
    const cost = pickOne([1, 1, 1, 0, 2, 0.5, 3, 0.25, 10]);
    const result = step(state, startMs + atMs, limit, cost);
    state = result.state;
    const d = result.decision;
    arrivals.push({
      atMs,
      cost,
      expect: {
        allowed: d.allowed,
        limit: d.limit,
        remaining: d.remaining,
        resetAfterMs: d.resetAfterMs,
        retryAfterMs: spell(d.retryAfterMs),
      },
    });
  }
  return { description: `generated #${index}: ${limit.spec}`, limit: spec, startMs, arrivals };
});

writeFileSync(new URL('./generated.json', import.meta.url), `${JSON.stringify(vectors, null, 1)}\n`);
console.log(`wrote ${vectors.length} vectors, ${vectors.length * 80} arrivals`);
