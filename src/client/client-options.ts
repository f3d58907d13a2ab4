import { type Clock, type Sleep, systemClock, systemSleep } from '../core/clock.js';
import type { Duration } from '../core/duration.js';
import type { Limit } from '../core/limits.js';
import { fail, knownKeys, optionsObject } from '../internal/describe.js';
import { createRetryPolicy, type RetryPolicy, type RetryPolicyOptions } from './retry-policy.js';
import { checkConcurrency, checkLimits } from './scheduler-options.js';

/**
 * A request class of {@link ClientOptions.classes}: which requests it takes and how they are paced.
 *
 * @example
 * ```ts
 * const reports: ClientClass = {
 *   match: (method, url) => url.pathname.startsWith('/reports'),
 *   limits: [tokenBucket({ rate: 1, per: '5s' })],
 *   concurrency: 1,
 * };
 * ```
 */
export interface ClientClass {
  /**
   * Whether a request belongs to the class; classes are tried in order and the first match wins (a request
   * no class matches goes to the last class).
   * @default for a class named `query`: GET, HEAD and OPTIONS; for any other name: every other method
   * @example (method, url) => method === 'POST' && url.pathname === '/search'
   */
  match?: (method: string, url: URL) => boolean;
  /**
   * The class's limits, run at `margin` of their rate and size.
   * @default []
   * @example [tokenBucket({ rate: 10, per: '1s', burst: 60 })]
   */
  limits?: readonly Limit[];
  /**
   * Most requests of the class in flight at once: an integer ≥ 1, or `Infinity`.
   * @default Infinity
   * @example 4
   */
  concurrency?: number;
  /**
   * `true`: any method of the class may be replayed (it is known to be safe); `false`: never retried;
   * absent: the retry policy decides (idempotent methods, or an `Idempotency-Key`).
   * @example true
   */
  retryable?: boolean;
}

/**
 * Options of {@link createClient}.
 *
 * @example
 * ```ts
 * const options: ClientOptions = {
 *   baseUrl: 'https://api.example.com/v1/',
 *   headers: { authorization: `Bearer ${token}` },
 *   classes: { query: { limits: [tokenBucket({ rate: 10 })] }, command: { concurrency: 2 } },
 *   margin: 0.9,
 *   retry: { maxAttempts: 6, deadline: '1m' },
 * };
 * ```
 */
export interface ClientOptions {
  /**
   * Resolves relative request URLs (given as strings).
   * @example 'https://api.example.com/v1/'
   */
  baseUrl?: string | URL;
  /**
   * Headers added to every request that does not set them itself.
   * @example { authorization: 'Bearer abc' }
   */
  headers?: ConstructorParameters<typeof Headers>[0];
  /**
   * Request classes, each with its own queue, limits and concurrency.
   * @default { query: {}, command: {} }
   * @example { query: { limits: [tokenBucket({ rate: 10 })] }, command: { concurrency: 1 } }
   */
  classes?: Readonly<Record<string, ClientClass>>;
  /**
   * The share of every limit the client uses, configured or learned: `0 < margin ≤ 1`.
   * @default 0.9
   * @example 0.8
   */
  margin?: number;
  /**
   * Learn the server's limits from its headers and pace below them (see {@link createClient}).
   * @default true
   * @example false
   */
  adaptive?: boolean;
  /**
   * The retry policy; see {@link RetryPolicyOptions}.
   * @default { maxAttempts: 5, backoff: { base: '1s', cap: '30s', jitter: 'full' } }
   * @example { statuses: [249, 429, 503], maxAttempts: 6 }
   */
  retry?: RetryPolicyOptions;
  /**
   * Most requests waiting per class; one more rejects with `QueueFullError`.
   * @default Infinity
   * @example 1000
   */
  maxQueue?: number;
  /**
   * Longest an attempt may wait in its class's queue before it rejects with `QueueTimeoutError`.
   * @default Infinity
   * @example '30s'
   */
  maxWait?: Duration;
  /**
   * The fetch that sends requests.
   * @default globalThis.fetch
   * @example (input, init) => undici.fetch(input, init)
   */
  fetch?: typeof globalThis.fetch;
  /**
   * The client's clock.
   * @default Date.now
   * @example createManualClock(0).now
   */
  clock?: Clock;
  /**
   * How the client waits (queues, gates, retry delays); must reject when its signal aborts.
   * @default systemSleep
   * @example createManualClock(0).sleep
   */
  sleep?: Sleep;
  /**
   * The random source of backoff jitter, in `[0, 1)`.
   * @default Math.random
   * @example () => 0.5
   */
  random?: () => number;
}

/** A class after validation. */
export interface ResolvedClass {
  readonly name: string;
  readonly match: (method: string, url: URL) => boolean;
  readonly limits: readonly Limit[];
  readonly concurrency: number;
  /** The class's retry policy (`maxAttempts: 1` when the class is not retryable). */
  readonly policy: RetryPolicy;
}

/** Client options after validation and defaults. */
export interface ResolvedClientOptions {
  readonly baseUrl: URL | undefined;
  readonly headers: Headers;
  readonly classes: readonly ResolvedClass[];
  readonly margin: number;
  readonly adaptive: boolean;
  readonly maxQueue: number | undefined;
  readonly maxWait: Duration | undefined;
  readonly fetch: typeof globalThis.fetch;
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly random: () => number;
}

const OPTIONS = [
  'baseUrl',
  'headers',
  'classes',
  'margin',
  'adaptive',
  'retry',
  'maxQueue',
  'maxWait',
  'fetch',
  'clock',
  'sleep',
  'random',
] as const;

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

function resolveClass(name: string, value: unknown, retry: RetryPolicyOptions): ResolvedClass {
  const raw = optionsObject(`classes.${name}`, value);
  knownKeys(`classes.${name}`, raw, ['match', 'limits', 'concurrency', 'retryable']);
  const c = raw as ClientClass;
  if (c.match !== undefined && typeof c.match !== 'function')
    fail(`classes.${name}.match`, 'a function (method, url) => boolean', c.match);
  if (c.retryable !== undefined && typeof c.retryable !== 'boolean')
    fail(`classes.${name}.retryable`, 'a boolean', c.retryable);
  const query = name === 'query';
  return {
    name,
    match: c.match ?? ((method) => SAFE.has(method) === query),
    limits: checkLimits(c.limits ?? []),
    concurrency: checkConcurrency(c.concurrency ?? Number.POSITIVE_INFINITY),
    policy: createRetryPolicy(
      c.retryable === undefined
        ? retry
        : c.retryable
          ? { ...retry, retryAllMethods: true }
          : { ...retry, maxAttempts: 1 },
    ),
  };
}

/**
 * Validates {@link ClientOptions} and fills in the defaults. Throws a `ConfigError` naming the option.
 *
 * @example
 * ```ts
 * resolveClientOptions({}).margin; // 0.9
 * ```
 */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  const raw = optionsObject('createClient options', options);
  knownKeys('createClient()', raw, OPTIONS);
  const o = raw as ClientOptions;
  const margin = o.margin ?? 0.9;
  if (typeof margin !== 'number' || !(margin > 0 && margin <= 1))
    fail('margin', 'a number in (0, 1]', margin);
  if (o.adaptive !== undefined && typeof o.adaptive !== 'boolean') fail('adaptive', 'a boolean', o.adaptive);
  for (const key of ['fetch', 'clock', 'sleep', 'random'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') fail(key, 'a function', o[key]);
  }
  const fetchFn = o.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function') fail('fetch', 'a fetch function (none is global)', fetchFn);
  const retry = o.retry ?? {};
  createRetryPolicy(retry); // validates once, with the option's own paths
  const classes = Object.entries(o.classes ?? { query: {}, command: {} });
  if (classes.length === 0) fail('classes', 'at least one class', o.classes);
  return {
    baseUrl: o.baseUrl === undefined ? undefined : new URL(o.baseUrl),
    headers: new Headers(o.headers),
    classes: classes.map(([name, value]) => resolveClass(name, value, retry)),
    margin,
    adaptive: o.adaptive ?? true,
    maxQueue: o.maxQueue,
    maxWait: o.maxWait,
    fetch: fetchFn,
    clock: o.clock ?? systemClock,
    sleep: o.sleep ?? systemSleep,
    random: o.random ?? Math.random,
  };
}
