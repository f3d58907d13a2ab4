import { fill, type Outcome } from '../decision.js';
import type { FixedWindowLimit } from '../limits.js';
import { ceilMs, EPS, type Kernel, wholeRemaining } from './kernel.js';

/**
 * The state of a fixed window: the window's index since the epoch and the cost counted in it.
 *
 * @example
 * ```ts
 * const state: FixedWindowState = { window: Math.floor(Date.now() / 10_000), count: 49 };
 * ```
 */
export interface FixedWindowState {
  readonly window: number;
  readonly count: number;
}

/** Index of the epoch-aligned window holding `nowMs`, exact for any window length. */
export function windowIndex(nowMs: number, windowMs: number): number {
  return Math.round((nowMs - (nowMs % windowMs)) / windowMs);
}

/** Fixed window on two cells: `[window index, count]`. */
export const fixedWindowKernel: Kernel<FixedWindowLimit> = {
  width: 2,
  step(limit, cells, at, nowMs, cost, out): Outcome {
    const index = windowIndex(nowMs, limit.windowMs);
    const count = cells[at] === index ? cells[at + 1]! : 0;
    const resetAfterMs = ceilMs(limit.windowMs - (nowMs % limit.windowMs));
    if (count + cost <= limit.limit + EPS) {
      if (cost > 0) {
        cells[at] = index;
        cells[at + 1] = count + cost;
      }
      return fill(
        out,
        true,
        limit.limit,
        wholeRemaining(limit.limit - count - cost, limit.limit),
        resetAfterMs,
        0,
      );
    }
    const retry = cost > limit.limit + EPS ? Number.POSITIVE_INFINITY : Math.max(1, resetAfterMs);
    return fill(
      out,
      false,
      limit.limit,
      wholeRemaining(limit.limit - count, limit.limit),
      resetAfterMs,
      retry,
    );
  },
  admits(limit, cells, at, atMs, cost) {
    const count = cells[at] === windowIndex(atMs, limit.windowMs) ? cells[at + 1]! : 0;
    return count + cost <= limit.limit + EPS;
  },
  expiresAt(limit, cells, at) {
    return (cells[at]! + 1) * limit.windowMs;
  },
};
