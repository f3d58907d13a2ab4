import { step } from '../core/algorithms/index.js';
import { type Clock, systemClock } from '../core/clock.js';
import { combine, type Decision, type DegradedReason, decision, type Outcome } from '../core/decision.js';
import { type Duration, parsePositiveDuration } from '../core/duration.js';
import { ConfigError, StoreError } from '../core/errors.js';
import { capacityOf } from '../core/limits.js';
import { createBreaker, type Failure } from '../internal/breaker.js';
import {
  fail,
  integerAtLeast,
  knownKeys,
  optionsObject,
  positiveNumber,
  cost as validCost,
  key as validKey,
  nowMs as validNow,
} from '../internal/describe.js';
import { createMemoryStore } from './memory/memory-store.js';
import type { AcquireResult, Check, Lease, Store } from './types.js';

/**
 * What a {@link ResilientStore} answers while its store is failing:
 * - `open`: allow, as if every key had no state (availability first);
 * - `closed`: deny, with `retryAfterMs` set to when the store is next tried (protection first);
 * - `fallback`: decide on a local stand-in store (limits enforced per process).
 *
 * @example
 * ```ts
 * const failureMode: FailureMode = process.env.PAYMENTS === '1' ? 'closed' : 'fallback';
 * ```
 */
export type FailureMode = 'open' | 'closed' | 'fallback';

/**
 * Options of {@link createResilientStore}.
 *
 * @example
 * ```ts
 * const options: ResilientStoreOptions = { timeout: '50ms', failureMode: 'fallback', retryInterval: '1s' };
 * ```
 */
export interface ResilientStoreOptions {
  /**
   * Longest wait for one store call. A call that has not settled by then is a `store-timeout` failure and
   * is answered in degraded mode at once, even if the store's promise never settles.
   * @default '50ms'
   * @example '20ms'
   */
  timeout?: Duration;
  /**
   * What to answer while the store fails (see {@link FailureMode}).
   * @default 'fallback'
   */
  failureMode?: FailureMode;
  /**
   * How long the store is left alone after a failure: calls degrade at once, without touching it, until
   * this has passed; then one call is let through as a probe, and its success brings the store back.
   * @default '1s'
   * @example '5s'
   */
  retryInterval?: Duration;
  /**
   * Consecutive failed calls that take the store down. One slow call (a GC pause, a network blip) is
   * answered in degraded mode but does not, alone, stop the use of a healthy store; a failed probe takes it
   * down again at once.
   * @default 3
   * @example 1
   */
  failureThreshold?: number;
  /**
   * The local store that decides in `fallback` mode. Accepted only with `failureMode: 'fallback'`.
   * @default createMemoryStore({ clock })
   * @example createMemoryStore({ maxKeys: 50_000 })
   */
  fallback?: Store;
  /**
   * Clock of the circuit breaker, and of degraded decisions when a call passes no `nowMs`.
   * @default systemClock (`Date.now`)
   */
  clock?: Clock;
  /**
   * Called once per failed store call, with the error and its kind (a `StoreError` with code
   * `ERR_SLUICE_STORE_TIMEOUT` for a timeout). Whatever it throws is ignored.
   * @example (error, reason) => log.warn({ err: error, reason }, 'rate limit store failing')
   */
  onError?: (error: unknown, reason: Exclude<DegradedReason, 'fallback'>) => unknown;
}

/**
 * Counters of a {@link ResilientStore}: a plain object, ready for a metrics exporter.
 *
 * @example
 * ```ts
 * const { state, timeouts, errors, degraded } = store.stats();
 * gauge('limiter.store.up', state === 'up' ? 1 : 0);
 * ```
 */
export interface ResilientStoreStats {
  /** `down` from a failure until a probe succeeds (a probe in flight included). */
  readonly state: 'up' | 'down';
  /** Store calls that did not settle within `timeout` (or that failed with `ERR_SLUICE_STORE_TIMEOUT`). */
  readonly timeouts: number;
  /** Store calls that failed otherwise. Errors that are the caller's fault (`ConfigError`) are not counted. */
  readonly errors: number;
  /** Results of `consume`, `peek` and `acquire` decided in degraded mode, by failure mode. */
  readonly degraded: { readonly open: number; readonly closed: number; readonly fallback: number };
  /** Calls let through to the store while it was down, to see whether it is back. */
  readonly probes: number;
  /** Probes that succeeded, bringing the store back up. */
  readonly recoveries: number;
  /** The message of the last failure, if any. */
  readonly lastError?: string;
}

/**
 * A {@link Store} with explicit failure modes, made by {@link createResilientStore}.
 *
 * @example
 * ```ts
 * const store: ResilientStore = createResilientStore(redisStore, { failureMode: 'open' });
 * if (store.stats().state === 'down') log.warn('rate limits are not enforced');
 * ```
 */
export interface ResilientStore extends Store {
  /** The wrapped store. */
  readonly inner: Store;
  /** Counters and the breaker's state. */
  stats(): ResilientStoreStats;
}

/** Ids of leases made up in `open` mode: releasing one is a no-op. */
const OPEN_LEASE = 'sluice-open:';
/** Ids of leases issued by the fallback store: they are released and renewed there, whatever happens. */
const FALLBACK_LEASE = 'sluice-fallback:';
const STORE_METHODS = ['consume', 'peek', 'reset', 'acquire', 'release', 'renew'] as const;
const MODES: readonly FailureMode[] = ['open', 'closed', 'fallback'];

const isStore = (value: unknown): value is Store =>
  typeof value === 'object' &&
  value !== null &&
  STORE_METHODS.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');

const plain = (d: Decision): Decision => ({
  allowed: d.allowed,
  limit: d.limit,
  remaining: d.remaining,
  resetAfterMs: d.resetAfterMs,
  retryAfterMs: d.retryAfterMs,
});

/** A copy of `outcome` marked with `reason` (the original may be a store's record; it is not mutated). */
const tag = (outcome: Outcome, reason: DegradedReason): Outcome => ({
  ...plain(outcome),
  decisions: outcome.decisions.map(plain),
  reason,
  ...(outcome.atMs === undefined ? {} : { atMs: outcome.atMs }),
});

const prefixed = (lease: Lease, prefix: string): Lease => ({ ...lease, id: prefix + lease.id });
const unprefixed = (lease: Lease, prefix: string): Lease => ({ ...lease, id: lease.id.slice(prefix.length) });

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Wraps any {@link Store} (typically the Redis store) with a per-call timeout, a circuit breaker and an
 * explicit failure mode, so that a failing store never hangs or fails a request.
 *
 * - Every call settles within `timeout`. A failure (timeout or error) marks the store down: for
 *   `retryInterval`, calls are answered in degraded mode at once, without touching the store; then one call
 *   is let through as a probe (concurrent calls keep degrading) and its success brings the store back up.
 * - Degraded `consume`/`peek`/`acquire` results carry `reason`: `store-timeout` or `store-error` in
 *   `open` and `closed` mode, `fallback` when the fallback store decided.
 * - Errors that are the caller's fault (`ConfigError`, e.g. an invalid cost) are rethrown, never degraded,
 *   and do not count as failures.
 * - `reset` cannot be faked: during an outage it rejects with a `StoreError` (in `fallback` mode the
 *   fallback store is reset too, always).
 * - Leases of the wrapped store cannot be given back during an outage: `release` resolves `false` and
 *   `renew` resolves `undefined` (the lease frees itself on the store at its `expiresAtMs`). Leases made up
 *   in `open` mode release as `true`; leases of the fallback store are released and renewed on it, even
 *   after the store has recovered. (Both are told apart by their ids, prefixed `sluice-open:` and
 *   `sluice-fallback:`: ids the wrapped store must not issue.)
 *
 * @example
 * ```ts
 * const store = createResilientStore(createRedisStore({ client: redis }), {
 *   timeout: '50ms',
 *   failureMode: 'fallback', // per-process limits while Redis is unreachable
 *   onError: (error, reason) => log.warn({ err: error, reason }, 'rate limit store failing'),
 * });
 * const limiter = createLimiter({ limits: tokenBucket({ rate: 10, burst: 60 }), store });
 * const outcome = await limiter.consume('user-42'); // outcome.reason === 'fallback' during an outage
 * ```
 */
export function createResilientStore(store: Store, options: ResilientStoreOptions = {}): ResilientStore {
  if (!isStore(store)) fail('store', `a Store (an object with ${STORE_METHODS.join(', ')})`, store);
  const o = optionsObject('createResilientStore options', options);
  knownKeys('createResilientStore()', o, [
    'timeout',
    'failureMode',
    'retryInterval',
    'failureThreshold',
    'fallback',
    'clock',
    'onError',
  ]);
  const timeoutMs = parsePositiveDuration(o.timeout ?? 50, 'timeout');
  const retryMs = parsePositiveDuration(o.retryInterval ?? 1000, 'retryInterval');
  const threshold = integerAtLeast('failureThreshold', o.failureThreshold ?? 3, 1);
  const mode = (o.failureMode ?? 'fallback') as FailureMode;
  if (!MODES.includes(mode)) fail('failureMode', '"open", "closed" or "fallback"', o.failureMode);
  if (o.clock !== undefined && typeof o.clock !== 'function')
    fail('clock', 'a function returning ms', o.clock);
  if (o.onError !== undefined && typeof o.onError !== 'function') fail('onError', 'a function', o.onError);
  if (o.fallback !== undefined && !isStore(o.fallback))
    fail('fallback', `a Store (an object with ${STORE_METHODS.join(', ')})`, o.fallback);
  if (o.fallback !== undefined && mode !== 'fallback') {
    throw new ConfigError(
      'fallback',
      `Option \`fallback\` is used only with \`failureMode: "fallback"\`; got \`failureMode: "${mode}"\``,
    );
  }
  const clock = (o.clock as Clock | undefined) ?? systemClock;
  const onError = o.onError as ResilientStoreOptions['onError'];
  const fallback =
    mode === 'fallback' ? ((o.fallback as Store | undefined) ?? createMemoryStore({ clock })) : undefined;

  const breaker = createBreaker({ timeoutMs, retryMs, threshold, clock, onError });
  const { attempt } = breaker;
  const degraded = { open: 0, closed: 0, fallback: 0 };
  let leases = 0;

  const now = (given: number | undefined) => (given === undefined ? clock() : validNow(given));

  /** `consume` (commit) or `peek` without the store. */
  const decideDegraded = async (
    checks: readonly Check[],
    nowMs: number | undefined,
    reason: Failure,
    commit: boolean,
  ): Promise<Outcome> => {
    if (fallback !== undefined) {
      const outcome = await (commit ? fallback.consume(checks, nowMs) : fallback.peek(checks, nowMs));
      degraded.fallback++;
      return tag(outcome, 'fallback');
    }
    const at = now(nowMs);
    const wait = mode === 'closed' ? breaker.waitMs() : 0;
    const decisions = checks.map(({ limit, key, cost = 1 }) => {
      validKey(key);
      validCost(cost);
      return mode === 'open'
        ? step(undefined, at, limit, cost).decision
        : decision(false, capacityOf(limit), 0, wait, wait);
    });
    degraded[mode]++;
    return tag(combine(decisions), reason);
  };

  const acquireDegraded = async (
    key: string,
    max: number,
    ttlMs: number,
    nowMs: number | undefined,
    reason: Failure,
  ): Promise<AcquireResult> => {
    if (fallback !== undefined) {
      const result = await fallback.acquire(key, max, ttlMs, nowMs);
      degraded.fallback++;
      return result.acquired
        ? { ...result, lease: prefixed(result.lease, FALLBACK_LEASE), reason: 'fallback' }
        : { ...result, reason: 'fallback' };
    }
    validKey(key);
    integerAtLeast('max', max, 1);
    positiveNumber('ttlMs', ttlMs);
    const at = now(nowMs);
    degraded[mode]++;
    if (mode === 'closed') return { acquired: false, current: max, max, reason };
    const lease: Lease = { key, id: `${OPEN_LEASE}${(++leases).toString(36)}`, expiresAtMs: at + ttlMs };
    return { acquired: true, lease, current: 1, max, reason };
  };

  const leaseOf = (lease: Lease): Lease => {
    if (typeof lease !== 'object' || lease === null || typeof lease.id !== 'string')
      fail('lease', 'a lease returned by acquire', lease);
    return lease;
  };

  return {
    inner: store,
    consume: async (checks, nowMs) => {
      const result = await attempt(() => store.consume(checks, nowMs));
      return result.ok ? result.value : decideDegraded(checks, nowMs, result.reason, true);
    },
    peek: async (checks, nowMs) => {
      const result = await attempt(() => store.peek(checks, nowMs));
      return result.ok ? result.value : decideDegraded(checks, nowMs, result.reason, false);
    },
    reset: async (key, limits) => {
      await fallback?.reset(key, limits);
      const result = await attempt(() => store.reset(key, limits));
      if (result.ok) return;
      if (result.error instanceof StoreError) throw result.error;
      if (result.error !== undefined)
        throw new StoreError('ERR_SLUICE_STORE', `The store failed: ${messageOf(result.error)}`, {
          cause: result.error,
        });
      throw new StoreError(
        'ERR_SLUICE_STORE_DOWN',
        `The store is down (${breaker.lastReason()}); it is tried again in ${breaker.waitMs()} ms`,
        { cause: breaker.lastError() },
      );
    },
    acquire: async (key, max, ttlMs, nowMs) => {
      // An acquire that answers after the timeout took a slot nobody holds: give it back at once.
      const result = await attempt(
        () => store.acquire(key, max, ttlMs, nowMs),
        (late) => {
          if (late.acquired) store.release(late.lease).catch(() => {});
        },
      );
      return result.ok ? result.value : acquireDegraded(key, max, ttlMs, nowMs, result.reason);
    },
    release: async (lease, nowMs) => {
      const { id } = leaseOf(lease);
      if (id.startsWith(OPEN_LEASE)) return true;
      if (id.startsWith(FALLBACK_LEASE))
        return (await fallback?.release(unprefixed(lease, FALLBACK_LEASE), nowMs)) ?? false;
      const result = await attempt(() => store.release(lease, nowMs));
      return result.ok && result.value;
    },
    renew: async (lease, ttlMs, nowMs) => {
      const { id } = leaseOf(lease);
      if (id.startsWith(OPEN_LEASE))
        return { ...lease, expiresAtMs: now(nowMs) + positiveNumber('ttlMs', ttlMs) };
      if (id.startsWith(FALLBACK_LEASE)) {
        const renewed = await fallback?.renew(unprefixed(lease, FALLBACK_LEASE), ttlMs, nowMs);
        return renewed && prefixed(renewed, FALLBACK_LEASE);
      }
      const result = await attempt(() => store.renew(lease, ttlMs, nowMs));
      return result.ok ? result.value : undefined;
    },
    // Gates, when the wrapped store has them: during an outage the fallback store's gate (a local pause), or
    // none (a gate only delays; the limits still decide).
    ...(store.closeGate === undefined || store.gateWait === undefined
      ? {}
      : {
          closeGate: async (key: string, waitMs: number, nowMs?: number) => {
            const local = await fallback?.closeGate?.(key, waitMs, nowMs);
            const result = await attempt(() => store.closeGate!(key, waitMs, nowMs));
            return result.ok ? result.value : (local ?? waitMs);
          },
          gateWait: async (key: string, nowMs?: number) => {
            const result = await attempt(() => store.gateWait!(key, nowMs));
            return result.ok ? result.value : ((await fallback?.gateWait?.(key, nowMs)) ?? 0);
          },
        }),
    stats: () => {
      const { counters } = breaker;
      const failures = counters.timeouts + counters.errors;
      return {
        state: breaker.isUp() ? 'up' : 'down',
        ...counters,
        degraded: { ...degraded },
        ...(failures === 0 ? {} : { lastError: messageOf(breaker.lastError()) }),
      };
    },
  };
}
