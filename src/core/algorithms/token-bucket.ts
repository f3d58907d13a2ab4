import { fill, type Outcome } from '../decision.js';
import type { TokenBucketLimit } from '../limits.js';
import { ceilMs, EPS, FLOAT_ERROR, type Kernel, settleRetry, wholeRemaining } from './kernel.js';

/**
 * The state of a token bucket under GCRA: one number, the theoretical arrival time (TAT), counted in
 * emission intervals (`tat × intervalMs` is a Unix time in ms). Counting in intervals makes adding an
 * integer cost exact whatever the rate: the only rounding is that of `now × tokensPerMs`, once per
 * decision, never accumulated (admission forgives 1e-9 of a token; waits are settled exactly).
 *
 * @example
 * ```ts
 * const state: TokenBucketState = { tat: Date.now() / limit.intervalMs + 3 }; // 3 tokens in use
 * ```
 */
export interface TokenBucketState {
  readonly tat: number;
}

/**
 * Bound on the float error of the analytic wait, relative to `nowMs` (a few ulp, with margin): 1.7e-2 ms
 * for today's Unix times, far below the millisecond the wait is rounded to.
 */
const WAIT_ERROR = 1e-14;

/** Whether a request of `cost` fits at time `atMs` given the stored TAT: the one admission formula. */
function fits(limit: TokenBucketLimit, tat: number, atMs: number, cost: number): boolean {
  const n = atMs * limit.tokensPerMs;
  return (tat > n ? tat - n : 0) + cost <= limit.burst + EPS;
}

/**
 * GCRA on one cell. With `n = now × tokensPerMs` (time in emission intervals), a request of cost c is allowed when
 * `max(tat, n) + c - n ≤ burst`; then `tat = max(tat, n) + c`.
 */
export const tokenBucketKernel: Kernel<TokenBucketLimit> = {
  width: 1,
  // Kept small so that the JIT inlines it into the store; the denied path lives in `deny`.
  step(limit, cells, at, nowMs, cost, out): Outcome {
    const n = nowMs * limit.tokensPerMs;
    const tat = cells[at]!;
    const base = Math.max(tat, n);
    const outstanding = base - n + cost;
    if (outstanding > limit.burst + EPS)
      return deny(limit, cells, at, nowMs, cost, n, base, outstanding, out);
    if (cost > 0) cells[at] = base + cost;
    const tolerance = n * FLOAT_ERROR + EPS; // in tokens; × intervalMs in ms
    return fill(
      out,
      true,
      limit.burst,
      wholeRemaining(limit.burst - outstanding, limit.burst, tolerance),
      ceilMs(outstanding * limit.intervalMs, tolerance * limit.intervalMs),
      0,
    );
  },
  admits(limit, cells, at, atMs, cost) {
    return fits(limit, cells[at]!, atMs, cost);
  },
  expiresAt(limit, cells, at) {
    return cells[at]! * limit.intervalMs;
  },
};

/** The denied path of {@link tokenBucketKernel}: nothing is written; the exact wait is computed. */
function deny(
  limit: TokenBucketLimit,
  cells: Float64Array,
  at: number,
  nowMs: number,
  cost: number,
  n: number,
  base: number,
  outstanding: number,
  out: Outcome,
): Outcome {
  let retry = Number.POSITIVE_INFINITY;
  if (cost <= limit.burst + EPS) {
    // The analytic wait, taken from below its float error bound: the request is then surely denied one
    // millisecond earlier, and either this wait or the next millisecond admits it.
    const tat = cells[at]!;
    const guess = (outstanding - limit.burst - EPS) * limit.intervalMs;
    retry = Math.max(1, Math.ceil(guess - nowMs * WAIT_ERROR));
    if (!fits(limit, tat, nowMs + retry, cost) && !fits(limit, tat, nowMs + ++retry, cost)) {
      retry = settleRetry(tokenBucketKernel, limit, cells, at, nowMs, cost, guess);
    }
  }
  const tolerance = n * FLOAT_ERROR + EPS;
  return fill(
    out,
    false,
    limit.burst,
    wholeRemaining(limit.burst - (base - n), limit.burst, tolerance),
    ceilMs((base - n) * limit.intervalMs, tolerance * limit.intervalMs),
    retry,
  );
}
