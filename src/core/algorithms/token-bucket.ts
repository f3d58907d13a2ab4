import { type Decision, decision } from '../decision.js';
import type { TokenBucketLimit } from '../limits.js';
import { ceilMs, EPS, FLOAT_ERROR, type Kernel, settleRetry, wholeRemaining } from './kernel.js';

/**
 * The state of a token bucket under GCRA: one number, the theoretical arrival time (TAT), counted in
 * emission intervals (`tat × intervalMs` is a Unix time in ms). Counting in intervals keeps integer costs
 * exact in floating point whatever the rate.
 */
export interface TokenBucketState {
  readonly tat: number;
}

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
  step(limit, cells, at, nowMs, cost): Decision {
    const n = nowMs * limit.tokensPerMs;
    const tat = cells[at]!;
    const base = Math.max(tat, n);
    const outstanding = base - n + cost;
    const tolerance = n * FLOAT_ERROR + EPS; // in tokens; × intervalMs in ms
    if (outstanding <= limit.burst + EPS) {
      if (cost > 0) cells[at] = base + cost;
      return decision(
        true,
        limit.burst,
        wholeRemaining(limit.burst - outstanding, limit.burst, tolerance),
        ceilMs(outstanding * limit.intervalMs, tolerance * limit.intervalMs),
        0,
      );
    }
    let retry = Number.POSITIVE_INFINITY;
    if (cost <= limit.burst + EPS) {
      // The analytic wait, checked on both sides with the admission formula itself.
      retry = Math.max(1, Math.ceil((outstanding - limit.burst - EPS) * limit.intervalMs - 1e-7));
      if (
        !fits(limit, tat, nowMs + retry, cost) ||
        (retry > 1 && fits(limit, tat, nowMs + retry - 1, cost))
      ) {
        retry = settleRetry(this, limit, cells, at, nowMs, cost, retry);
      }
    }
    return decision(
      false,
      limit.burst,
      wholeRemaining(limit.burst - (base - n), limit.burst, tolerance),
      ceilMs((base - n) * limit.intervalMs, tolerance * limit.intervalMs),
      retry,
    );
  },
  admits(limit, cells, at, atMs, cost) {
    return fits(limit, cells[at]!, atMs, cost);
  },
  expiresAt(limit, cells, at) {
    return cells[at]! * limit.intervalMs;
  },
};
