import { type Leases, purge } from './leases.js';
import { expiresAt, remove, type Table } from './table.js';

/** What a sweep did. */
export interface SweepResult {
  /** Keys dropped because their state had expired (no information lost). */
  expired: number;
  /** Keys dropped while still live, nearest expiry first (their limits restart from scratch). */
  evicted: number;
}

const SAMPLE = 512;

/**
 * Brings a full store down to `target` keys: first drops every expired state and lease, then, if that is
 * not enough, evicts the live states that expire soonest (they carry the least information). A sweep is
 * O(keys) and leaves at least `maxKeys − target` free places, so its cost per insertion stays constant
 * however keys are rotated. Live leases are never evicted: they are bounded by their TTL.
 */
export function sweep(
  tables: Iterable<Table>,
  leases: Leases,
  size: () => number,
  target: number,
  nowMs: number,
): SweepResult {
  const result: SweepResult = { expired: 0, evicted: 0 };
  const all = [...tables];
  for (const table of all) {
    for (const [key, slot] of table.slots) {
      if (expiresAt(table, slot) <= nowMs) {
        remove(table, key, slot);
        result.expired++;
      }
    }
  }
  for (const [key, held] of leases.byKey) {
    const before = held.size;
    result.expired += before - purge(leases, key, held, nowMs);
  }
  let excess = size() - target;
  if (excess <= 0) return result;

  // Threshold: the expiry below which about `excess` live states lie, estimated from an even sample.
  const total = all.reduce((sum, t) => sum + t.slots.size, 0);
  const stride = Math.max(1, Math.floor(total / SAMPLE));
  const sample: number[] = [];
  let i = 0;
  for (const table of all) {
    for (const slot of table.slots.values()) if (i++ % stride === 0) sample.push(expiresAt(table, slot));
  }
  sample.sort((a, b) => a - b);
  const threshold =
    sample[Math.min(sample.length - 1, Math.floor((sample.length * excess) / Math.max(1, total)))];
  for (const pass of [threshold, Number.POSITIVE_INFINITY]) {
    for (const table of all) {
      for (const [key, slot] of table.slots) {
        if (excess <= 0) return result;
        if (pass === undefined || expiresAt(table, slot) <= pass) {
          remove(table, key, slot);
          result.evicted++;
          excess--;
        }
      }
    }
  }
  return result;
}
