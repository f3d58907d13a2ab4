import type { Clock } from '../core/clock.js';
import type { Duration } from '../core/duration.js';
import { capacityOf } from '../core/limits.js';
import { fail, knownKeys, optionsObject } from '../internal/describe.js';
import { isSynchronous } from '../internal/fast-path.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import { createResilientStore } from '../store/resilient.js';
import type { Check, Store } from '../store/types.js';
import { scaleLimit } from './client-adapt.js';

/**
 * A shared budget of `ClientOptions.budget`: where the client's limits, concurrency and gate live.
 *
 * @example
 * ```ts
 * const budget: ClientBudget = { store: createRedisStore({ client: redis }), name: 'erp-sync', localShare: 0.25 };
 * ```
 */
export interface ClientBudget {
  /**
   * The store: a memory store shares among the clients of one process, a Redis store among processes and
   * hosts. A store that can fail (anything but a memory store) and is not already wrapped by
   * `createResilientStore` is wrapped with `failureMode: 'fallback'` and a local store that holds
   * `localShare` of every limit and of the concurrency.
   * @example createRedisStore({ client: redis })
   */
  store: Store;
  /**
   * The budget's name: clients given the same store and name draw from one budget (each class apart:
   * `<name>:<class>`).
   * @example 'erp-sync'
   */
  name: string;
  /**
   * The share of the budget one client keeps to itself while the store is unreachable: `1 / n` for `n`
   * processes sharing it. Conservative by default: four processes.
   * @default 0.25
   * @example 0.5
   */
  localShare?: number;
  /**
   * The longest a concurrency lease lives (a crashed process's slots free themselves then).
   * @default '1m'
   * @example '5m'
   */
  leaseTtl?: Duration;
}

/**
 * A store that holds `share` of every limit (its rate and size, see `scaleLimit`) and of every
 * concurrency maximum (at least 1) of `store`: a process's local share of a shared budget.
 *
 * @example
 * ```ts
 * const fallback = shareOf(createMemoryStore(), 0.25); // a quarter of the budget, for one of four workers
 * const store = createResilientStore(createRedisStore({ client: redis }), { failureMode: 'fallback', fallback });
 * ```
 */
export function shareOf(store: Store, share: number, options: ShareOptions = {}): Store {
  if (typeof share !== 'number' || !(share > 0 && share <= 1)) fail('share', 'a number in (0, 1]', share);
  const scaled = (checks: readonly Check[]) =>
    checks.map((check) => ({ ...check, limit: scaleLimit(check.limit, share) }));
  const most = (max: number) => Math.max(1, Math.floor(max * share));
  // The first time a limit and key is used here in each outage (`options.outage()` changes between
  // outages), the local state starts from its share of what the shared budget had left: reset, then what
  // the shared budget had spent is spent here too (in proportion), so a share taken over mid-window does
  // not start full.
  const seeded = new Map<string, number>();
  const seed = async (checks: readonly Check[], nowMs: number | undefined) => {
    if (options.remaining === undefined) return;
    const outage = options.outage?.() ?? 0;
    for (const check of checks) {
      const id = `${check.limit.key}\u0000${check.key}`;
      if (seeded.get(id) === outage) continue;
      if (seeded.size >= 10_000) seeded.clear();
      seeded.set(id, outage);
      const remaining = options.remaining(check);
      if (remaining === undefined) continue;
      const local = scaled([check])[0] as Check;
      await store.reset(local.key, [local.limit]);
      const spent = capacityOf(local.limit) - Math.floor(remaining * share);
      if (spent > 0)
        await store.consume([{ ...local, cost: Math.min(spent, capacityOf(local.limit)) }], nowMs);
    }
  };
  return {
    consume: async (checks, nowMs) => {
      await seed(checks, nowMs);
      return store.consume(scaled(checks), nowMs);
    },
    peek: (checks, nowMs) => store.peek(scaled(checks), nowMs),
    reset: (key, limits) =>
      store.reset(
        key,
        limits?.map((limit) => scaleLimit(limit, share)),
      ),
    acquire: (key, max, ttlMs, nowMs) => store.acquire(key, most(max), ttlMs, nowMs),
    release: (lease, nowMs) => store.release(lease, nowMs),
    renew: (lease, ttlMs, nowMs) => store.renew(lease, ttlMs, nowMs),
    ...(store.closeGate === undefined ? {} : { closeGate: store.closeGate }),
    ...(store.gateWait === undefined ? {} : { gateWait: store.gateWait }),
  };
}

/**
 * Options of {@link shareOf}.
 *
 * @example
 * ```ts
 * const options: ShareOptions = { remaining: (check) => lastSeen.get(check.limit.key) };
 * ```
 */
export interface ShareOptions {
  /**
   * What the shared budget had left for a check when last seen (`undefined`: unknown). The first use of
   * each limit and key then starts with `share` of that, not a full share.
   */
  remaining?: (check: Check) => number | undefined;
  /**
   * A number that changes whenever the shared store has answered since the last outage: each outage then
   * seeds afresh from `remaining`.
   */
  outage?: () => number;
}

/** A validated budget, its store made resilient when it can fail. */
export interface ResolvedBudget {
  readonly store: Store;
  readonly name: string;
  readonly leaseTtl: Duration;
}

/** Validates `ClientOptions.budget` and wraps its store (see {@link ClientBudget.store}). */
export function resolveBudget(value: unknown, clock: Clock): ResolvedBudget | undefined {
  if (value === undefined) return undefined;
  const b = optionsObject('budget', value);
  knownKeys('budget', b, ['store', 'name', 'localShare', 'leaseTtl']);
  const store = b.store as Store;
  if (typeof store !== 'object' || store === null || typeof store.consume !== 'function')
    fail('budget.store', 'a store (createMemoryStore, createRedisStore, …)', store);
  if (typeof b.name !== 'string' || b.name === '') fail('budget.name', 'a non-empty string', b.name);
  const share = (b.localShare as number | undefined) ?? 0.25;
  if (typeof share !== 'number' || !(share > 0 && share <= 1))
    fail('budget.localShare', 'a number in (0, 1]', share);
  const resilient = isSynchronous(store) || 'inner' in store;
  let wrapped = store;
  if (!resilient) {
    // What the shared store last said was left, per limit and key: a fallback starts from its share of it.
    const left = new Map<string, number>();
    let answers = 0;
    const observed: Store = {
      ...store,
      consume: async (checks, nowMs) => {
        const outcome = await store.consume(checks, nowMs);
        answers++;
        if (left.size >= 10_000) left.clear();
        checks.forEach((check, i) => {
          const decision = outcome.decisions[i];
          if (decision !== undefined) left.set(`${check.limit.key}\u0000${check.key}`, decision.remaining);
        });
        return outcome;
      },
    };
    const remaining = (check: Check) => left.get(`${check.limit.key}\u0000${check.key}`);
    wrapped = createResilientStore(observed, {
      failureMode: 'fallback',
      fallback: shareOf(createMemoryStore({ clock }), share, { remaining, outage: () => answers }),
      clock,
    });
  }
  return { store: wrapped, name: b.name, leaseTtl: (b.leaseTtl as Duration | undefined) ?? '1m' };
}
