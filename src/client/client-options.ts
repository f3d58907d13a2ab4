import { type Clock, type Sleep, systemClock, systemSleep } from '../core/clock.js';
import { type Duration, parsePositiveDuration } from '../core/duration.js';
import type { Limit } from '../core/limits.js';
import { fail, knownKeys, optionsObject } from '../internal/describe.js';
import { type ClientBudget, type ResolvedBudget, resolveBudget } from './client-budget.js';
import { endpointOf } from './client-stats.js';
import { createRetryPolicy, type RetryPolicy, type RetryPolicyOptions } from './retry-policy.js';
import { normalizeRetryBudget, type RetryBudgetOptions } from './retry-policy-budget.js';
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
   * The share of every limit the client uses, configured or learned: `0 < margin ≤ 1`, or separate shares
   * for the rate (a token bucket's rate, a window's count, a learned limit or refill) and for a token
   * bucket's burst. A burst share below the rate share keeps a reserve in the server's bucket for network
   * jitter while running at nearly the full rate.
   * @default 0.9
   * @example { rate: 0.98, burst: 0.9 }
   */
  margin?: number | { rate?: number; burst?: number };
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
   * A budget for retries (of 5xx, 408 and network errors; a 429 or 409 waits for the server's time at the
   * gate instead), shared by the client's classes, so that an outage does not turn into a retry storm. A
   * refused retry returns the last response (or throws the network error) and emits `shed`
   * (`retry-budget`). `false`: no budget.
   * @default { ratio: 0.2, minPerSecond: 3, maxTokens: 10 }
   * @example { ratio: 0.1 }
   */
  retryBudget?: RetryBudgetOptions | false;
  /**
   * Emit `persistentThrottling` when a class is throttled (429 or 409) `throttles` times within `window`;
   * `false`: never.
   * @default { throttles: 10, window: '1m' }
   * @example { throttles: 3, window: '10m' }
   */
  persistentThrottling?: { throttles?: number; window?: Duration } | false;
  /**
   * The endpoint label of a request, for `stats()` and events (keep its cardinality bounded: beyond
   * `maxEndpoints` labels, the rest count as `other`).
   * @default endpointOf: the method and the path with identifiers folded, e.g. `GET /v1/orders/:id`
   * @example (method, url) => `${method} ${url.pathname.split('/')[2]}`
   */
  endpoint?: (method: string, url: URL) => string;
  /**
   * Most distinct endpoint labels counted.
   * @default 100
   * @example 20
   */
  maxEndpoints?: number;
  /**
   * The length of the time windows of `stats()` (the last 10 are kept).
   * @default '1m'
   * @example '10s'
   */
  statsWindow?: Duration;
  /**
   * A shared budget (see {@link ClientBudget}): the classes' limits, concurrency and gates live in a store
   * under `<name>:<class>`, so that several clients, workers or processes given the same budget draw from
   * one budget instead of each running its own.
   * @default none: each client paces in its own memory
   * @example { store: createRedisStore({ client: redis }), name: 'erp-sync', localShare: 0.25 }
   */
  budget?: ClientBudget;
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
  readonly margin: { readonly rate: number; readonly burst: number };
  readonly budget: ResolvedBudget | undefined;
  readonly adaptive: boolean;
  readonly retryBudget: RetryBudgetOptions | false;
  readonly persistentThrottling: { readonly throttles: number; readonly windowMs: number } | false;
  readonly endpoint: (method: string, url: URL) => string;
  readonly maxEndpoints: number;
  readonly statsWindowMs: number;
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
  'retryBudget',
  'budget',
  'persistentThrottling',
  'endpoint',
  'maxEndpoints',
  'statsWindow',
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

function share(path: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) fail(path, 'a number in (0, 1]', value);
  return value;
}

function resolveMargin(value: unknown): ResolvedClientOptions['margin'] {
  if (typeof value === 'number' || typeof value !== 'object' || value === null) {
    const both = share('margin', value);
    return { rate: both, burst: both };
  }
  knownKeys('margin', value as Record<string, unknown>, ['rate', 'burst']);
  const { rate = 0.9, burst = rate } = value as { rate?: number; burst?: number };
  return { rate: share('margin.rate', rate), burst: share('margin.burst', burst) };
}

function resolvePersistent(
  value: ClientOptions['persistentThrottling'],
): ResolvedClientOptions['persistentThrottling'] {
  if (value === false) return false;
  const raw = optionsObject('persistentThrottling', value ?? {});
  knownKeys('persistentThrottling', raw, ['throttles', 'window']);
  const throttles = (raw.throttles as number | undefined) ?? 10;
  if (!Number.isInteger(throttles) || throttles < 1)
    fail('persistentThrottling.throttles', 'an integer ≥ 1', throttles);
  const windowMs = parsePositiveDuration(
    (raw.window as Duration | undefined) ?? '1m',
    'persistentThrottling.window',
  );
  return { throttles, windowMs };
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
  const margin = resolveMargin(o.margin ?? 0.9);
  if (o.adaptive !== undefined && typeof o.adaptive !== 'boolean') fail('adaptive', 'a boolean', o.adaptive);
  for (const key of ['fetch', 'clock', 'sleep', 'random', 'endpoint'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') fail(key, 'a function', o[key]);
  }
  const fetchFn = o.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function') fail('fetch', 'a fetch function (none is global)', fetchFn);
  const retry = o.retry ?? {};
  createRetryPolicy(retry); // validates once, with the option's own paths
  if (o.retryBudget !== undefined && o.retryBudget !== false) normalizeRetryBudget(o.retryBudget);
  const maxEndpoints = o.maxEndpoints ?? 100;
  if (!Number.isInteger(maxEndpoints) || maxEndpoints < 1)
    fail('maxEndpoints', 'an integer ≥ 1', maxEndpoints);
  const classes = Object.entries(o.classes ?? { query: {}, command: {} });
  if (classes.length === 0) fail('classes', 'at least one class', o.classes);
  return {
    baseUrl: o.baseUrl === undefined ? undefined : new URL(o.baseUrl),
    headers: new Headers(o.headers),
    classes: classes.map(([name, value]) => resolveClass(name, value, retry)),
    margin,
    budget: resolveBudget(o.budget, o.clock ?? systemClock),
    adaptive: o.adaptive ?? true,
    retryBudget: o.retryBudget ?? {},
    persistentThrottling: resolvePersistent(o.persistentThrottling),
    endpoint: o.endpoint ?? endpointOf,
    maxEndpoints,
    statsWindowMs: parsePositiveDuration(o.statsWindow ?? '1m', 'statsWindow'),
    maxQueue: o.maxQueue,
    maxWait: o.maxWait,
    fetch: fetchFn,
    clock: o.clock ?? systemClock,
    sleep: o.sleep ?? systemSleep,
    random: o.random ?? Math.random,
  };
}
