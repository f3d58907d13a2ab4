import { fixedWindow, type Limit, slidingWindow, tokenBucket } from '../core/limits.js';
import type { ServerQuota } from './hints-fields.js';

/**
 * Successes (2xx) needed to raise a class's concurrency by one after a 409 lowered it.
 *
 * @example
 * ```ts
 * RECOVER_EVERY; // 10
 * ```
 */
export const RECOVER_EVERY = 10;

/**
 * Runs a limit at a margin of its rate and size: a token bucket keeps its period and gets `rate × margin.rate`
 * and `⌊burst × margin.burst⌋` (at least 1); a window gets `⌊limit × margin.rate⌋` (at least 1). A number
 * is the same share for both.
 *
 * @example
 * ```ts
 * scaleLimit(fixedWindow({ limit: 10, window: '1s' }), 0.9); // 9 per 1 s
 * scaleLimit(tokenBucket({ rate: 10, burst: 60 }), { rate: 0.98, burst: 0.9 }); // 9.8 per 1 s, burst 54
 * ```
 */
export function scaleLimit(
  limit: Limit,
  margin: number | { readonly rate: number; readonly burst: number },
): Limit {
  const { rate, burst } = typeof margin === 'number' ? { rate: margin, burst: margin } : margin;
  if (rate === 1 && (burst === 1 || limit.kind !== 'tokenBucket')) return limit;
  if (limit.kind === 'tokenBucket') {
    const name = rate === burst ? `${limit.name}@${rate}` : `${limit.name}@${rate}/${burst}`;
    const size = Math.max(1, Math.floor(limit.burst * burst));
    return tokenBucket({ rate: limit.rate * rate, per: limit.perMs, burst: size, name });
  }
  const name = `${limit.name}@${rate}`;
  const options = { limit: Math.max(1, Math.floor(limit.limit * rate)), window: limit.windowMs, name };
  return limit.kind === 'fixedWindow' ? fixedWindow(options) : slidingWindow(options);
}

/**
 * The limit a client learns from the server's binding quota: when it announces both `limit` and `windowMs`,
 * a sliding window of `⌊margin × limit⌋` (at least 1) per `windowMs`. A sliding window never admits more
 * than its limit in an epoch-aligned window (as sluice's fixed windows are), so the client stays below a
 * fixed or sliding window server's count. `undefined` when the quota gives no rate.
 *
 * @example
 * ```ts
 * learnedLimit({ source: 'ietf', name: 'p', limit: 20, windowMs: 1000 }, 0.9); // 18 per 1 s, sliding
 * ```
 */
export function learnedLimit(quota: ServerQuota | undefined, margin: number): Limit | undefined {
  if (quota?.limit === undefined || quota.windowMs === undefined) return undefined;
  if (!(quota.limit > 0) || !(quota.windowMs > 0)) return undefined;
  return slidingWindow({
    limit: Math.max(1, Math.floor(quota.limit * margin)),
    window: quota.windowMs,
    name: `learned:${quota.name ?? quota.source}`,
  });
}

/**
 * The AIMD state of a class's concurrency.
 *
 * @example
 * ```ts
 * const state: ConcurrencyState = { limit: 8, successes: 0 };
 * ```
 */
export interface ConcurrencyState {
  /** The current cap (`Infinity` until a 409 lowers it). */
  readonly limit: number;
  /** Successes since the last change. */
  readonly successes: number;
}

/**
 * Multiplicative decrease on a 409: halves the cap (at least 1). An unbounded cap is first taken as the
 * number of requests that were in flight.
 *
 * @example
 * ```ts
 * onConflict({ limit: 8, successes: 3 }, 8); // { limit: 4, successes: 0 }
 * ```
 */
export function onConflict(state: ConcurrencyState, inFlight: number): ConcurrencyState {
  const base = Number.isFinite(state.limit) ? state.limit : Math.max(1, inFlight);
  return { limit: Math.max(1, Math.floor(base / 2)), successes: 0 };
}

/**
 * Additive increase: after {@link RECOVER_EVERY} successes the cap grows by one, up to `max` (the class's
 * configured concurrency).
 *
 * @example
 * ```ts
 * onSuccess({ limit: 4, successes: 9 }, 8); // { limit: 5, successes: 0 }
 * ```
 */
export function onSuccess(state: ConcurrencyState, max: number): ConcurrencyState {
  if (state.limit >= max) return state;
  const successes = state.successes + 1;
  if (successes < RECOVER_EVERY) return { limit: state.limit, successes };
  return { limit: Math.min(max, state.limit + 1), successes: 0 };
}
