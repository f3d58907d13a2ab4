import { knownKeys, nonEmptyString, optionsObject, positiveNumber } from '../internal/describe.js';
import { type Duration, formatDuration, parsePositiveDuration } from './duration.js';
import { ConfigError } from './errors.js';

/** Fields every limit has. */
interface LimitBase {
  /** Human name, used in headers (`RateLimit-Policy`) and logs. Defaults to a description of the limit. */
  readonly name: string;
  /**
   * Storage namespace of the limit's state: two limits with the same `id` and parameters share state in a
   * store. Defaults to `name`; `createLimiter` prefixes it with the limiter's `prefix`.
   */
  readonly id: string;
  /** Canonical description of the algorithm and its parameters, e.g. `tokenBucket:10/1000ms:60`. */
  readonly spec: string;
  /** `id` and `spec` together: state written under one set of parameters is never read under another. */
  readonly key: string;
}

/**
 * A token bucket (GCRA), made by {@link tokenBucket}.
 *
 * @example
 * ```ts
 * const limit: TokenBucketLimit = tokenBucket({ rate: 10, burst: 60 });
 * limit.intervalMs; // 100
 * ```
 */
export interface TokenBucketLimit extends LimitBase {
  readonly kind: 'tokenBucket';
  /** Tokens added per `perMs`. May be fractional. */
  readonly rate: number;
  /** The period `rate` refers to, in milliseconds. */
  readonly perMs: number;
  /** Bucket capacity: the largest burst admitted at once. */
  readonly burst: number;
  /** Milliseconds per token (`perMs / rate`), GCRA's emission interval. */
  readonly intervalMs: number;
  /** Tokens per millisecond (`rate / perMs`), the reciprocal of `intervalMs`. */
  readonly tokensPerMs: number;
}

/**
 * A fixed window counter aligned to the epoch, made by {@link fixedWindow}.
 *
 * @example
 * ```ts
 * const limit: FixedWindowLimit = fixedWindow({ limit: 50, window: '10s' });
 * limit.windowMs; // 10000
 * ```
 */
export interface FixedWindowLimit extends LimitBase {
  readonly kind: 'fixedWindow';
  /** Cost admitted per window. */
  readonly limit: number;
  /** Window length in milliseconds. */
  readonly windowMs: number;
}

/**
 * A sliding window counter (two weighted fixed windows), made by {@link slidingWindow}.
 *
 * @example
 * ```ts
 * const limit: SlidingWindowLimit = slidingWindow({ limit: 20, window: '30s' });
 * ```
 */
export interface SlidingWindowLimit extends LimitBase {
  readonly kind: 'slidingWindow';
  /** Cost admitted per window, as estimated by the weighted counter. */
  readonly limit: number;
  /** Window length in milliseconds. */
  readonly windowMs: number;
}

/**
 * Any rate limit definition.
 *
 * @example
 * ```ts
 * const limits: Limit[] = [tokenBucket({ rate: 5 }), fixedWindow({ limit: 1000, window: '1d' })];
 * ```
 */
export type Limit = TokenBucketLimit | FixedWindowLimit | SlidingWindowLimit;

/**
 * Options of {@link tokenBucket}.
 *
 * @example
 * ```ts
 * const options: TokenBucketOptions = { rate: 10, per: '1s', burst: 60, name: 'merchant' };
 * ```
 */
export interface TokenBucketOptions {
  /**
   * Tokens added per `per`; fractional rates are allowed (`rate: 1, per: '5m'` is one per five minutes).
   * @example 10
   */
  rate: number;
  /**
   * The period of `rate`.
   * @default '1s'
   * @example '1s'
   */
  per?: Duration;
  /**
   * Bucket capacity, the largest burst admitted at once.
   * @default the larger of `rate` and 1
   * @example 60
   */
  burst?: number;
  /** Name in headers and logs. @default e.g. `"10/1s-burst-60"` */
  name?: string;
}

/**
 * Options of {@link fixedWindow} and {@link slidingWindow}.
 *
 * @example
 * ```ts
 * const options: WindowOptions = { limit: 200, window: '10s', name: 'data-sources' };
 * ```
 */
export interface WindowOptions {
  /**
   * Cost admitted per window (requests, when each costs 1).
   * @example 100
   */
  limit: number;
  /**
   * Window length.
   * @example '1m'
   */
  window: Duration;
  /** Name in headers and logs. @default e.g. `"100/1m-fixed"` */
  name?: string;
}

/**
 * A token bucket implemented as GCRA: one number of state per key, refilled continuously at `rate` per
 * `per`, holding at most `burst`. In any interval of length W it admits at most `burst + rate·W/per`.
 *
 * @example
 * ```ts
 * // The Merchant API: 10 requests per second, bursts of up to 60.
 * const merchant = tokenBucket({ rate: 10, per: '1s', burst: 60 });
 * // The Platform API's process endpoint: one call per five minutes.
 * const process = tokenBucket({ rate: 1, per: '5m', burst: 1 });
 * ```
 */
export function tokenBucket(options: TokenBucketOptions): TokenBucketLimit {
  const o = optionsObject('tokenBucket options', options);
  knownKeys('tokenBucket()', o, ['rate', 'per', 'burst', 'name']);
  const rate = positiveNumber('rate', o.rate);
  const perMs = parsePositiveDuration(o.per ?? '1s', 'per');
  const burst = positiveNumber('burst', o.burst ?? Math.max(1, rate));
  const spec = `tokenBucket:${rate}/${perMs}ms:${burst}`;
  const fallback = `${rate}/${formatDuration(perMs)}${burst === rate ? '' : `-burst-${burst}`}`;
  return finish(
    { kind: 'tokenBucket', rate, perMs, burst, intervalMs: perMs / rate, tokensPerMs: rate / perMs },
    o.name,
    fallback,
    spec,
  );
}

/**
 * A fixed window counter: windows aligned to the Unix epoch (a `'1d'` window starts at 00:00 UTC), at most
 * `limit` per window. Cheap and exact per window, but two adjacent windows can admit up to `2·limit` within
 * one window's length.
 *
 * @example
 * ```ts
 * const salesData = fixedWindow({ limit: 50, window: '10s' });
 * ```
 */
export function fixedWindow(options: WindowOptions): FixedWindowLimit {
  return windowLimit('fixedWindow', options, 'fixed');
}

/**
 * A sliding window counter: the current fixed window's count plus the previous window's count weighted by
 * how much of it still overlaps the sliding window. Two numbers of state per key and smooth behaviour at
 * window edges. Bound: any interval of length W starting at fraction g of a window admits at most
 * `limit·(1 + g)` (so at most `limit` when aligned, and always less than `2·limit`).
 *
 * @example
 * ```ts
 * const dataSources = slidingWindow({ limit: 200, window: '10s' });
 * ```
 */
export function slidingWindow(options: WindowOptions): SlidingWindowLimit {
  return windowLimit('slidingWindow', options, 'sliding');
}

/**
 * The capacity a decision reports as `limit`: `burst` for a bucket, `limit` for a window.
 *
 * @example
 * ```ts
 * capacityOf(tokenBucket({ rate: 10, burst: 60 })); // 60
 * ```
 */
export function capacityOf(limit: Limit): number {
  return limit.kind === 'tokenBucket' ? limit.burst : limit.limit;
}

/**
 * Returns the same limit with its state stored under another `id` (a namespace). Used by
 * {@link createLimiter} to keep two limiters on one store apart.
 *
 * @example
 * ```ts
 * withId(tokenBucket({ rate: 5 }), 'checkout:5/1s').id; // "checkout:5/1s"
 * ```
 */
export function withId<L extends Limit>(limit: L, id: string): L {
  nonEmptyString('id', id);
  return Object.freeze(Object.assign({}, limit, { id, key: `${id}|${limit.spec}` }));
}

/** Validates window options and builds a fixed or sliding window limit; `label` ends its default name. */
function windowLimit<K extends 'fixedWindow' | 'slidingWindow'>(
  kind: K,
  options: WindowOptions,
  label: string,
) {
  const o = optionsObject(`${kind} options`, options);
  knownKeys(`${kind}()`, o, ['limit', 'window', 'name']);
  if (o.window === undefined) throw new ConfigError('window', `Missing \`window\` in ${kind}(), e.g. '10s'`);
  const limit = positiveNumber('limit', o.limit);
  const windowMs = parsePositiveDuration(o.window, 'window');
  const fallback = `${limit}/${formatDuration(windowMs)}-${label}`;
  return finish({ kind, limit, windowMs }, o.name, fallback, `${kind}:${limit}/${windowMs}ms`);
}

function finish<T extends object>(fields: T, name: unknown, fallback: string, spec: string): T & LimitBase {
  const resolved = name === undefined ? fallback : nonEmptyString('name', name);
  return Object.freeze({ ...fields, name: resolved, id: resolved, spec, key: `${resolved}|${spec}` });
}
