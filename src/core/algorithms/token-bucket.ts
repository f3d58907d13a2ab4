import { type Decision, decision } from '../decision.js';
import type { TokenBucketLimit } from '../limits.js';
import { ceilMs, EPS, type Kernel, settleRetry, wholeRemaining } from './kernel.js';

/**
 * The state of a token bucket under GCRA: one number, the theoretical arrival time (TAT), counted in
 * emission intervals (`tat × intervalMs` is a Unix time in ms). Counting in intervals keeps integer costs
 * exact in floating point whatever the rate.
 */
export interface TokenBucketState {
  readonly tat: number;
}

/**
 * GCRA on one cell. With `n = now / interval`, a request of cost c is allowed when
 * `max(tat, n) + c - n ≤ burst`; then `tat = max(tat, n) + c`.
 */
export const tokenBucketKernel: Kernel<TokenBucketLimit> = {
  width: 1,
  step(limit, cells, at, nowMs, cost): Decision {
    const n = nowMs / limit.intervalMs;
    const tat = cells[at]!;
    const base = tat > n ? tat : n;
    const outstanding = base - n + cost;
    if (outstanding <= limit.burst + EPS) {
      if (cost > 0) cells[at] = base + cost;
      return decision(
        true,
        limit.burst,
        wholeRemaining(limit.burst - outstanding),
        ceilMs(outstanding * limit.intervalMs),
        0,
      );
    }
    const retry =
      cost > limit.burst + EPS
        ? Number.POSITIVE_INFINITY
        : settleRetry(
            this,
            limit,
            cells,
            at,
            nowMs,
            cost,
            (outstanding - limit.burst - EPS) * limit.intervalMs,
          );
    return decision(
      false,
      limit.burst,
      wholeRemaining(limit.burst - (base - n)),
      ceilMs((base - n) * limit.intervalMs),
      retry,
    );
  },
  admits(limit, cells, at, atMs, cost) {
    const n = atMs / limit.intervalMs;
    const tat = cells[at]!;
    return (tat > n ? tat - n : 0) + cost <= limit.burst + EPS;
  },
  expiresAt(limit, cells, at) {
    return cells[at]! * limit.intervalMs;
  },
};
