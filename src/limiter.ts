import { randomUUID } from 'node:crypto';
import type { Clock } from './core/clock.js';
import { blank, type DecisionBuffer, fillOutcome, type Outcome } from './core/decision.js';
import { type Duration, parsePositiveDuration } from './core/duration.js';
import { ConfigError } from './core/errors.js';
import { type Limit, withId } from './core/limits.js';
import {
  fail,
  integerAtLeast,
  knownKeys,
  nonEmptyString,
  optionsObject,
  cost as validCost,
  key as validKey,
} from './internal/describe.js';
import { FAST_PATH, type FastPath, isSynchronous } from './internal/fast-path.js';
import { createMemoryStore, type MemoryStore } from './store/memory/memory-store.js';
import type { AcquireResult, Check, Lease, Store } from './store/types.js';

/**
 * Options of {@link createLimiter}.
 *
 * @example
 * ```ts
 * const options: LimiterOptions = {
 *   limits: [tokenBucket({ rate: 10, burst: 60 })],
 *   prefix: 'merchant-api',
 *   concurrency: { max: 5, ttl: '30s' },
 * };
 * ```
 */
export interface LimiterOptions<S extends Store = Store> {
  /**
   * The limits every key must satisfy; all are checked in one atomic store call.
   * @example [tokenBucket({ rate: 10, burst: 60 }), fixedWindow({ limit: 10_000, window: '1d' })]
   */
  limits: Limit | readonly Limit[];
  /**
   * Where state lives. Pass one store to several limiters to share memory, or a Redis store to share limits
   * across processes.
   * @default a new memory store (`createMemoryStore()`)
   */
  store?: S;
  /**
   * Namespace of this limiter's keys in the store. Limiters with different prefixes never collide; give two
   * limiters (or two processes) the same prefix to make them share budgets.
   * @default a prefix unique to this limiter (`"limiter-1-3f9a0c2e"`: a counter and a random tag)
   */
  prefix?: string;
  /**
   * Overrides the store's clock for this limiter's calls (tests, simulations).
   * @default the store's clock
   */
  clock?: Clock;
  /** An optional concurrency limit per key, used by `acquire` and `release`. */
  concurrency?: {
    /** Requests in flight at once per key. @example 5 */
    max: number;
    /** How long a lease may be held before it frees itself. @default '1m' */
    ttl?: Duration;
  };
}

/**
 * Options of one call.
 *
 * @example
 * ```ts
 * await limiter.consume('user-42', { cost: 5 }); // a batch write worth five requests
 * ```
 */
export interface ConsumeOptions {
  /** Units of budget the request takes (≥ 0, fractional allowed; 0 only looks). @default 1 */
  cost?: number;
}

/**
 * A limiter over any store. Made by {@link createLimiter}.
 *
 * @example
 * ```ts
 * const limiter: Limiter = createLimiter({ limits: fixedWindow({ limit: 50, window: '10s' }), store });
 * const { allowed, retryAfterMs } = await limiter.consume('tenant-7');
 * ```
 */
export interface Limiter {
  /** This limiter's namespace in the store. */
  readonly prefix: string;
  /** The limits, with their ids namespaced by `prefix`. */
  readonly limits: readonly Limit[];
  /** The store holding the state. */
  readonly store: Store;
  /** Checks every limit for `key` and consumes `cost` from all of them, or from none if any denies. */
  consume(key: string, options?: ConsumeOptions): Promise<Outcome>;
  /** What `consume` would answer, consuming nothing. */
  peek(key: string, options?: ConsumeOptions): Promise<Outcome>;
  /** Forgets `key`'s state under this limiter's limits. */
  reset(key: string): Promise<void>;
  /** Takes a concurrency slot of `key` (needs the `concurrency` option). */
  acquire(key: string): Promise<AcquireResult>;
  /** Gives a concurrency slot back; `true` if it was still held. */
  release(lease: Lease): Promise<boolean>;
  /**
   * Closes the gate of `key` for `waitMs` (a 429's cooldown, say), on the store's clock: every limiter of
   * the same store and prefix sees it through `gateWait`. Resolves the remaining wait. Needs a store with
   * gates (memory, Redis).
   */
  closeGate(key: string, waitMs: number): Promise<number>;
  /** The remaining wait of the gate of `key`, in ms (0: open). */
  gateWait(key: string): Promise<number>;
}

/**
 * A limiter over the memory store, with synchronous twins: no `await` per decision.
 *
 * @example
 * ```ts
 * const limiter: SyncLimiter = createLimiter({ limits: tokenBucket({ rate: 5 }) });
 * if (!limiter.consumeSync(ip).allowed) return tooManyRequests();
 * ```
 */
export interface SyncLimiter extends Limiter {
  readonly store: MemoryStore;
  consumeSync(key: string, options?: ConsumeOptions): Outcome;
  /**
   * `consumeSync` without allocating: the outcome is written into `buffer` (see `createDecisionBuffer`) and
   * returned. With a single limit nothing at all is allocated per decision.
   */
  consumeInto(key: string, buffer: DecisionBuffer, options?: ConsumeOptions): DecisionBuffer;
  peekSync(key: string, options?: ConsumeOptions): Outcome;
  resetSync(key: string): void;
  acquireSync(key: string): AcquireResult;
  releaseSync(lease: Lease): boolean;
}

let instances = 0;
/** Distinguishes this process's default prefixes from any prefix a user would write. */
const TAG = randomUUID().slice(0, 8);

/** Escapes `:` (and `%`) so that `prefix:name` can be split back unambiguously: ids never collide. */
const escapePart = (part: string) => part.replaceAll('%', '%25').replaceAll(':', '%3A');

/**
 * The front door: a limiter applying one or more limits per key, atomically.
 *
 * @example
 * ```ts
 * const limiter = createLimiter({ limits: [tokenBucket({ rate: 10, per: '1s', burst: 60 })] });
 * const outcome = await limiter.consume(apiUserId);
 * if (!outcome.allowed) return reply(429, { retryAfterMs: outcome.retryAfterMs });
 *
 * // Synchronous on the memory store:
 * limiter.consumeSync(apiUserId, { cost: 5 }).remaining;
 * ```
 */
export function createLimiter(options: LimiterOptions<MemoryStore> & { store?: MemoryStore }): SyncLimiter;
export function createLimiter(options: LimiterOptions): Limiter;
export function createLimiter(options: LimiterOptions): Limiter | SyncLimiter {
  const o = optionsObject('createLimiter options', options);
  knownKeys('createLimiter()', o, ['limits', 'store', 'prefix', 'clock', 'concurrency']);
  const given = Array.isArray(o.limits)
    ? (o.limits as Limit[])
    : o.limits === undefined
      ? []
      : [o.limits as Limit];
  if (given.length === 0) fail('limits', 'a limit or a non-empty array of limits', o.limits);
  const prefix =
    o.prefix === undefined ? `limiter-${++instances}-${TAG}` : nonEmptyString('prefix', o.prefix);
  const names = new Set<string>();
  const limits = given.map((limit, i) => {
    if (typeof limit !== 'object' || limit === null || typeof limit.spec !== 'string') {
      fail(`limits[${i}]`, 'a limit made by tokenBucket(), fixedWindow() or slidingWindow()', limit);
    }
    if (names.has(limit.name)) {
      throw new ConfigError(
        `limits[${i}].name`,
        `Two limits are named \`${limit.name}\`; give each a distinct \`name\``,
      );
    }
    names.add(limit.name);
    return withId(limit, `${escapePart(prefix)}:${escapePart(limit.name)}`);
  });
  if (o.clock !== undefined && typeof o.clock !== 'function')
    fail('clock', 'a function returning ms', o.clock);
  const store = (o.store as Store | undefined) ?? createMemoryStore();
  const explicitClock = o.clock as Clock | undefined;
  const concurrency = o.concurrency === undefined ? undefined : concurrencyOf(o.concurrency);

  const checksFor = (key: string, cost: number): Check[] => {
    validKey(key);
    return limits.map((limit) => ({ limit, key, cost }));
  };
  const leaseKey = (key: string) => `${escapePart(prefix)}:${validKey(key)}`;
  const needConcurrency = () => {
    if (concurrency === undefined)
      throw new ConfigError('concurrency', 'acquire() needs the `concurrency` option');
    return concurrency;
  };
  const now = () => explicitClock?.();
  const needGates = () => {
    if (store.closeGate === undefined || store.gateWait === undefined)
      throw new ConfigError('store', 'closeGate() and gateWait() need a store with gates (memory, Redis)');
    return store as Store & Required<Pick<Store, 'closeGate' | 'gateWait'>>;
  };

  const limiter: Limiter = {
    prefix,
    limits,
    store,
    consume: async (key, opts) => store.consume(checksFor(key, validCost(opts?.cost ?? 1)), now()),
    peek: async (key, opts) => store.peek(checksFor(key, validCost(opts?.cost ?? 1)), now()),
    reset: (key) => store.reset(key, limits),
    acquire: async (key) =>
      store.acquire(leaseKey(key), needConcurrency().max, needConcurrency().ttlMs, now()),
    release: (lease) => store.release(lease, now()),
    closeGate: async (key, waitMs) => needGates().closeGate(leaseKey(key), waitMs, now()),
    gateWait: async (key) => needGates().gateWait(leaseKey(key), now()),
  };
  const fast = (store as Partial<MemoryStore>)[FAST_PATH];
  return fast === undefined || !isSynchronous(store)
    ? limiter
    : withSyncPath(limiter, store as MemoryStore, fast, explicitClock, checksFor, () => {
        const { max, ttlMs } = needConcurrency();
        return { key: leaseKey, max, ttlMs };
      });
}

function withSyncPath(
  limiter: Limiter,
  store: MemoryStore,
  fast: FastPath,
  explicitClock: Clock | undefined,
  checksFor: (key: string, cost: number) => Check[],
  leaseSpec: () => { key: (k: string) => string; max: number; ttlMs: number },
): SyncLimiter {
  const clock = explicitClock ?? fast.clock;
  const single = limiter.limits.length === 1 ? limiter.limits[0]! : undefined;
  const costOf = (opts?: ConsumeOptions) => (opts === undefined ? 1 : validCost(opts.cost ?? 1));
  // The single limit's table, resolved once; the store keeps it while these functions live.
  const only = single === undefined ? undefined : fast.table(single);
  const consumeSync =
    only === undefined
      ? (key: string, opts?: ConsumeOptions) => store.consumeSync(checksFor(key, costOf(opts)), clock())
      : (key: string, opts?: ConsumeOptions) =>
          fast.consumeOne(only, validKey(key), costOf(opts), clock(), blank());
  const consumeInto =
    only === undefined
      ? (key: string, buffer: DecisionBuffer, opts?: ConsumeOptions) =>
          fillOutcome(buffer, store.consumeSync(checksFor(key, costOf(opts)), clock())) as DecisionBuffer
      : (key: string, buffer: DecisionBuffer, opts?: ConsumeOptions) =>
          fast.consumeOne(only, validKey(key), costOf(opts), clock(), buffer) as DecisionBuffer;
  if (only !== undefined) fast.hold(only, [consumeSync, consumeInto]);
  return {
    ...limiter,
    store,
    consume: async (key, opts) => consumeSync(key, opts),
    consumeSync,
    consumeInto,
    peekSync: (key, opts) => store.peekSync(checksFor(key, validCost(opts?.cost ?? 1)), clock()),
    resetSync: (key) => store.resetSync(key, limiter.limits),
    acquireSync: (key) => {
      const spec = leaseSpec();
      return store.acquireSync(spec.key(key), spec.max, spec.ttlMs, clock());
    },
    releaseSync: (lease) => store.releaseSync(lease, clock()),
  };
}

function concurrencyOf(value: unknown): { max: number; ttlMs: number } {
  const c = optionsObject('concurrency', value);
  knownKeys('concurrency', c, ['max', 'ttl']);
  return {
    max: integerAtLeast('concurrency.max', c.max, 1),
    ttlMs: parsePositiveDuration(c.ttl ?? '1m', 'concurrency.ttl'),
  };
}
