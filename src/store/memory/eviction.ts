import { expiresAt, remove, type Table } from './table.js';

/** What a sweep did. */
export interface SweepResult {
  /** States dropped because they had expired (no information lost). */
  expired: number;
  /** States dropped while still live, nearest expiry first (their limits restart from scratch). */
  evicted: number;
}

const SAMPLE = 512;

/** Says which states a sweep must spare (those of the batch being written). */
export type Keep = (table: Table, key: string) => boolean;

/**
 * Brings the limit states of a full store down to `target`: first drops every expired state, then, if that
 * is not enough, evicts the live states that expire soonest (they carry the least information). A sweep is
 * O(states) and leaves at least `maxKeys − target` free places, so its cost per insertion stays constant
 * however keys are rotated. States for which `keep` says true are spared (they count towards the target).
 */
export function sweep(tables: readonly Table[], target: number, nowMs: number, keep?: Keep): SweepResult {
  const result: SweepResult = { expired: 0, evicted: 0 };
  let total = 0;
  for (const table of tables) {
    for (const [key, slot] of table.slots) {
      if (expiresAt(table, slot) <= nowMs && !keep?.(table, key)) {
        remove(table, key, slot);
        result.expired++;
      }
    }
    total += table.slots.size;
  }
  let excess = total - target;
  if (excess <= 0) return result;

  // Threshold: the expiry below which about `excess` live states lie, estimated from an even sample.
  const stride = Math.max(1, Math.floor(total / SAMPLE));
  const sample: number[] = [];
  let i = 0;
  for (const table of tables) {
    for (const slot of table.slots.values()) if (i++ % stride === 0) sample.push(expiresAt(table, slot));
  }
  sample.sort((a, b) => a - b);
  const threshold = sample[Math.min(sample.length - 1, Math.floor((sample.length * excess) / total))]!;
  // First the states at or below the threshold, then (if the sample misjudged) any, in insertion order.
  for (const limit of [threshold, Number.POSITIVE_INFINITY]) {
    for (const table of tables) {
      for (const [key, slot] of table.slots) {
        if (excess <= 0) return result;
        if (expiresAt(table, slot) <= limit && !keep?.(table, key)) {
          remove(table, key, slot);
          result.evicted++;
          excess--;
        }
      }
    }
  }
  return result;
}
