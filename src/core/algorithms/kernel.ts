import type { Outcome } from '../decision.js';
import type { Limit } from '../limits.js';

/**
 * An algorithm in the form stores run it: state lives in `width` float64 cells of a shared array, starting
 * at `at`; all-zero cells are "no state". `step` decides a request at `nowMs` and, only when it is allowed
 * with a positive cost, writes the new state in place. A denied request or a zero-cost peek writes nothing.
 * Kernels are pure apart from those cells: no clock, no I/O.
 *
 * @example
 * ```ts
 * const limit = tokenBucket({ rate: 10, burst: 60 });
 * const cells = new Float64Array(kernelOf(limit).width); // zeros: no state yet
 * kernelOf(limit).step(limit, cells, 0, Date.now(), 1, createDecisionBuffer()).remaining; // 59
 * ```
 */
export interface Kernel<L extends Limit = Limit> {
  /** Number of float64 cells of state per key. */
  readonly width: number;
  /**
   * Decides a request of `cost` at `nowMs`; writes the new state into the cells only when allowed, and
   * the decision into `out` (a blank record or a caller's buffer), which it returns.
   */
  step(limit: L, cells: Float64Array, at: number, nowMs: number, cost: number, out: Outcome): Outcome;
  /** Whether a request of `cost` would be allowed at `atMs`, from the state in the cells. */
  admits(limit: L, cells: Float64Array, at: number, atMs: number, cost: number): boolean;
  /** The time (ms) from which the state in the cells is equivalent to no state at all. */
  expiresAt(limit: L, cells: Float64Array, at: number): number;
}

/** Tolerance for float dust in count and token comparisons (1e-9 of a unit of cost). */
export const EPS = 1e-9;

/**
 * Relative float error of quantities derived from a Unix time in ms (about 4.5 ulp). A token bucket's
 * figures carry an absolute error of about `nowMs × FLOAT_ERROR` ms (`n × FLOAT_ERROR` tokens): reports
 * forgive that much, so that 7.99999999 remaining reads 8 and 100.0000004 ms reads 100.
 */
export const FLOAT_ERROR = 1e-15;

/**
 * Whole units still available, never negative nor above `capacity`, forgiving `tolerance` of float error
 * (2.9999999 → 3).
 */
export function wholeRemaining(units: number, capacity: number, tolerance = EPS): number {
  return units > 0 ? Math.floor(Math.min(units + tolerance, capacity + EPS)) : 0;
}

/** Milliseconds rounded up to a whole number, forgiving `tolerance` of float error (100.0000004 → 100). */
export function ceilMs(ms: number, tolerance = EPS): number {
  return ms > tolerance ? Math.ceil(ms - tolerance) : 0;
}

/**
 * The exact whole-millisecond wait for a denied request: starts from the analytic `guessMs` and settles it
 * against `admits` itself, so that the request is allowed at `nowMs + wait` and (for whole-ms clocks) denied
 * one millisecond earlier, whatever the rounding of the analytic formula.
 */
export function settleRetry<L extends Limit>(
  kernel: Kernel<L>,
  limit: L,
  cells: Float64Array,
  at: number,
  nowMs: number,
  cost: number,
  guessMs: number,
): number {
  const admits = kernel.admits;
  let wait = guessMs > 1 ? Math.ceil(guessMs - 1e-7) : 1;
  // Rounding moves the formula by a millisecond at most: step to the edge first.
  for (let i = 0; i < 3 && !admits(limit, cells, at, nowMs + wait, cost); i++) wait++;
  for (let i = 0; i < 3 && wait > 1 && admits(limit, cells, at, nowMs + wait - 1, cost); i++) wait--;
  if (
    admits(limit, cells, at, nowMs + wait, cost) &&
    (wait === 1 || !admits(limit, cells, at, nowMs + wait - 1, cost))
  ) {
    return wait;
  }
  // Still off: search, admission being monotone in time (the request is denied now).
  let low = 0;
  let high = Math.max(1, wait);
  while (!admits(limit, cells, at, nowMs + high, cost)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (admits(limit, cells, at, nowMs + mid, cost)) high = mid;
    else low = mid;
  }
  return high;
}
