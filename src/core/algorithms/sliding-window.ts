import { fill, type Outcome } from '../decision.js';
import type { SlidingWindowLimit } from '../limits.js';
import { windowIndex } from './fixed-window.js';
import { ceilMs, EPS, type Kernel, settleRetry, wholeRemaining } from './kernel.js';

/**
 * The state of a sliding window counter: the current window's index and count, and the previous window's
 * count.
 *
 * @example
 * ```ts
 * const state: SlidingWindowState = { window: Math.floor(Date.now() / 10_000), count: 3, previous: 10 };
 * ```
 */
export interface SlidingWindowState {
  readonly window: number;
  readonly count: number;
  readonly previous: number;
}

// The view of the cells at one instant, filled by `load` (module scratch: no allocation per decision).
let current = 0;
let previous = 0;
let index = 0;
let elapsed = 0;

function load(limit: SlidingWindowLimit, cells: Float64Array, at: number, nowMs: number): number {
  index = windowIndex(nowMs, limit.windowMs);
  elapsed = nowMs % limit.windowMs;
  const stored = cells[at]!;
  if (stored === index) {
    current = cells[at + 1]!;
    previous = cells[at + 2]!;
  } else {
    current = 0;
    previous = stored === index - 1 ? cells[at + 1]! : 0;
  }
  // The estimate: what the sliding window [now - W, now] holds if the previous window was uniform.
  return previous * (1 - elapsed / limit.windowMs) + current;
}

/** Time until nothing is counted any more, given the current window's count. */
function resetAfter(windowMs: number, count: number): number {
  return ceilMs(count > 0 ? 2 * windowMs - elapsed : previous > 0 ? windowMs - elapsed : 0);
}

/** Sliding window counter on three cells: `[window index, count, previous window's count]`. */
export const slidingWindowKernel: Kernel<SlidingWindowLimit> = {
  width: 3,
  step(limit, cells, at, nowMs, cost, out): Outcome {
    const W = limit.windowMs;
    const estimate = load(limit, cells, at, nowMs);
    if (estimate + cost <= limit.limit + EPS) {
      const after = current + cost;
      if (cost > 0) {
        cells[at] = index;
        cells[at + 1] = after;
        cells[at + 2] = previous;
      }
      return fill(
        out,
        true,
        limit.limit,
        wholeRemaining(limit.limit - estimate - cost, limit.limit),
        resetAfter(W, after),
        0,
      );
    }
    const reset = resetAfter(W, current);
    const remaining = wholeRemaining(limit.limit - estimate, limit.limit);
    if (cost > limit.limit + EPS)
      return fill(out, false, limit.limit, remaining, reset, Number.POSITIVE_INFINITY);
    // Earliest time the estimate has decayed enough: within this window if the current count leaves room,
    // otherwise in the next one, where the current count becomes the decaying previous one.
    const room = limit.limit + EPS - cost - current;
    const guess =
      room >= 0
        ? W * (1 - room / previous) - elapsed
        : W - elapsed + W * (1 - (limit.limit + EPS - cost) / current);
    return fill(
      out,
      false,
      limit.limit,
      remaining,
      reset,
      settleRetry(this, limit, cells, at, nowMs, cost, guess),
    );
  },
  admits(limit, cells, at, atMs, cost) {
    return load(limit, cells, at, atMs) + cost <= limit.limit + EPS;
  },
  expiresAt(limit, cells, at) {
    const stored = cells[at]!;
    return (cells[at + 1]! > 0 ? stored + 2 : stored + 1) * limit.windowMs;
  },
};
