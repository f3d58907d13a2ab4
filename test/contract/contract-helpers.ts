import fc from 'fast-check';
import {
  type Decision,
  fixedWindow,
  type Limit,
  slidingWindow,
  tokenBucket,
  withId,
} from '../../src/index.js';

/** Helpers of the store contract (store-contract.ts). */

export const T0 = 1_700_000_000_000;
let namespace = 0;
/** Limits under a fresh id, so tests sharing a (remote) store never see each other's state. */
export const fresh = <L extends Limit>(limit: L): L =>
  withId(limit, `contract-${process.pid}-${++namespace}:${limit.name}`);

export const view = (d: Decision) => ({
  allowed: d.allowed,
  limit: d.limit,
  remaining: d.remaining,
  resetAfterMs: d.resetAfterMs,
  retryAfterMs: d.retryAfterMs,
});

/** Small limits that random batches exhaust often. */
export const BATCH_LIMITS = [
  tokenBucket({ rate: 2, per: '1s', burst: 3 }),
  fixedWindow({ limit: 4, window: '1s' }),
  slidingWindow({ limit: 3, window: '700ms' }),
];
/** Random batches over {@link BATCH_LIMITS} and two keys, duplicates included. */
export const batchOf = (minLength: number) =>
  fc.array(
    fc.record({
      pick: fc.integer({ min: 0, max: 2 }),
      key: fc.constantFrom('x', 'y'),
      cost: fc.integer({ min: 0, max: 3 }),
    }),
    { minLength, maxLength: 4 },
  );
