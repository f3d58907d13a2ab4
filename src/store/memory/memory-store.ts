import { kernelOf } from '../../core/algorithms/index.js';
import type { Clock } from '../../core/clock.js';
import { blank, type Outcome } from '../../core/decision.js';
import type { Limit } from '../../core/limits.js';
import {
  fail,
  integerAtLeast,
  knownKeys,
  nonNegativeMs,
  optionsObject,
  positiveNumber,
  cost as validCost,
  key as validKey,
  nowMs as validNow,
} from '../../internal/describe.js';
import { FAST_PATH, type FastPath, markSynchronous } from '../../internal/fast-path.js';
import type { AcquireResult, Check, Lease, Store } from '../types.js';
import { type BatchStore, decideBatch } from './batch.js';
import { type Keep, sweep } from './eviction.js';
import * as leases from './leases.js';
import { createTable, insert, remove, type Table } from './table.js';

/**
 * Options of {@link createMemoryStore}.
 *
 * @example
 * ```ts
 * const options: MemoryStoreOptions = { maxKeys: 250_000 };
 * ```
 */
export interface MemoryStoreOptions {
  /**
   * Most limit states (one per limit and key) held at once. When full, the store drops expired state
   * first, then evicts the live state nearest its expiry, down to 15/16 of `maxKeys`. (A single batch
   * writing more keys than `maxKeys` is still stored whole.)
   * @default 1_000_000
   */
  maxKeys?: number;
  /**
   * Most concurrency keys with leases held at once. Live leases are never evicted (that would admit more
   * concurrent requests than allowed): when every place holds a live lease, `acquire` on a new key is
   * refused with `storeFull: true` until leases are released or expire.
   * @default 100_000
   */
  maxLeaseKeys?: number;
  /**
   * The store's clock, used when a call passes no `nowMs`.
   * @default Date.now
   */
  clock?: Clock;
}

/**
 * Counters of a memory store.
 *
 * @example
 * ```ts
 * const { keys, evicted } = store.stats();
 * if (evicted > 0) log.warn('raise maxKeys: live limits were evicted');
 * ```
 */
export interface MemoryStoreStats {
  /** Limit states held (one per limit and key). */
  readonly keys: number;
  /** Tables held: one per limit that holds state here or is used by a live limiter. */
  readonly tables: number;
  /** Concurrency keys with at least one lease. */
  readonly leaseKeys: number;
  /** States dropped by sweeps because they had expired. */
  readonly expired: number;
  /** Leases dropped by sweeps because they had expired (their holders never released them). */
  readonly expiredLeases: number;
  /** Live states evicted because the store was full. Non-zero means `maxKeys` is too small for the traffic. */
  readonly evicted: number;
  /** Sweeps run. */
  readonly sweeps: number;
}

/**
 * The in-memory store: the embedded default. All of {@link Store}, plus synchronous twins of every method
 * (no `await` per decision) and {@link MemoryStoreStats}.
 *
 * @example
 * ```ts
 * const store: MemoryStore = createMemoryStore();
 * store.consumeSync([{ limit, key: 'k' }]).allowed;
 * ```
 */
export interface MemoryStore extends Store {
  consumeSync(checks: readonly Check[], nowMs?: number): Outcome;
  peekSync(checks: readonly Check[], nowMs?: number): Outcome;
  resetSync(key: string, limits?: readonly Limit[]): void;
  acquireSync(key: string, max: number, ttlMs: number, nowMs?: number): AcquireResult;
  releaseSync(lease: Lease, nowMs?: number): boolean;
  renewSync(lease: Lease, ttlMs: number, nowMs?: number): Lease | undefined;
  stats(): MemoryStoreStats;
  /** @internal */
  readonly [FAST_PATH]: FastPath;
}

/**
 * Creates an in-memory store. Decisions are synchronous and atomic by construction (one JavaScript turn);
 * memory is bounded by `maxKeys` with lazy expiry — no timer per key.
 *
 * @example
 * ```ts
 * const store = createMemoryStore({ maxKeys: 100_000 });
 * const perSecond = tokenBucket({ rate: 10, burst: 60 });
 * const perDay = fixedWindow({ limit: 10_000, window: '1d' });
 * const outcome = store.consumeSync([
 *   { limit: perSecond, key: 'user-42' },
 *   { limit: perDay, key: 'account-7' },
 * ]);
 * // Denied by either limit → neither budget was touched.
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const o = optionsObject('createMemoryStore options', options);
  knownKeys('createMemoryStore()', o, ['maxKeys', 'maxLeaseKeys', 'clock']);
  const maxKeys = integerAtLeast('maxKeys', o.maxKeys ?? 1_000_000, 1);
  const maxLeaseKeys = integerAtLeast('maxLeaseKeys', o.maxLeaseKeys ?? 100_000, 1);
  if (o.clock !== undefined && typeof o.clock !== 'function')
    fail('clock', 'a function returning ms', o.clock);
  const clock = (o.clock as Clock | undefined) ?? Date.now;
  const target = maxKeys - Math.max(1, Math.floor(maxKeys / 16));

  /** The store's time, or the caller's, which must be a finite number. */
  const now = (given?: number) => (given === undefined ? clock() : validNow(given));
  const tables = new Map<string, Table>();
  const held = leases.createLeases(maxLeaseKeys);
  let keys = 0;
  const counters = { expired: 0, evicted: 0, sweeps: 0 };
  const scratch = new Float64Array(3);

  /** The table of a limit, created on its first write or for a limiter: looking and denying create none. */
  const tableFor = (limit: Limit): Table => {
    let table = tables.get(limit.key);
    if (table === undefined) {
      table = createTable(limit);
      tables.set(limit.key, table);
    }
    return table;
  };

  /** Forgets a table that holds no state and no limiter uses, so that limits used once cost nothing after. */
  const dropIfEmpty = (table: Table) => {
    if (table.slots.size === 0 && table.holders === 0 && tables.get(table.limit.key) === table) {
      tables.delete(table.limit.key);
    }
  };
  // A limiter's table is held while the limiter's functions live; their collection releases it.
  const holders = new FinalizationRegistry<Table>((table) => {
    table.holders--;
    dropIfEmpty(table);
  });

  /** Makes room for `extra` new keys: sweeps when the store would exceed `maxKeys`, sparing `keep`. */
  const reserve = (extra: number, nowMs: number, keep?: Keep) => {
    if (keys + extra <= maxKeys) return;
    const all = [...tables.values()];
    const result = sweep(all, Math.max(0, target - extra), nowMs, keep);
    for (const table of all) dropIfEmpty(table);
    counters.sweeps++;
    counters.expired += result.expired;
    counters.evicted += result.evicted;
    keys -= result.expired + result.evicted;
  };

  const insertKey = (table: Table, key: string): number => {
    keys++;
    return insert(table, key);
  };

  /** Decides without writing anything: the kernel runs on a copy of the cells (zeros for a new key). */
  const evaluate = (
    limit: Limit,
    key: string,
    cost: number,
    nowMs: number,
    out: Outcome = blank(),
  ): Outcome => {
    const table = tables.get(limit.key);
    const slot = table?.slots.get(key);
    scratch.fill(0);
    if (table !== undefined && slot !== undefined) {
      for (let c = 0; c < table.width; c++) scratch[c] = table.cells[slot * table.width + c]!;
    }
    return kernelOf(limit).step(limit, scratch, 0, nowMs, cost, out);
  };

  /** A key without state: decide first, and take a place only if allowed (a denial evicts nothing). */
  const consumeNew = (limit: Limit, key: string, cost: number, nowMs: number, out: Outcome): Outcome => {
    const decision = evaluate(limit, key, cost, nowMs, out);
    if (decision.allowed && cost > 0) {
      reserve(1, nowMs);
      const table = tableFor(limit);
      const at = insertKey(table, key);
      for (let c = 0; c < table.width; c++) table.cells[at + c] = scratch[c]!;
    }
    return decision;
  };

  const consumeOne = (table: Table, key: string, cost: number, nowMs: number, out: Outcome): Outcome => {
    // A key hammered in a row (one client bursting, an abuser retrying) skips the Map lookup.
    const slot = key === table.lastKey ? table.lastSlot : table.slots.get(key);
    if (slot === undefined) return consumeNew(table.limit, key, cost, nowMs, out);
    table.lastKey = key;
    table.lastSlot = slot;
    return table.kernel.step(table.limit, table.cells, slot * table.width, nowMs, cost, out);
  };

  const batchStore: BatchStore = { tables, tableFor, reserve, insert: insertKey, evaluate };

  const consumeSync = (checks: readonly Check[], at?: number): Outcome => {
    const nowMs = now(at);
    if (checks.length !== 1) return decideBatch(batchStore, checks, nowMs, true);
    const { limit, key, cost = 1 } = checks[0]!;
    const table = tables.get(limit.key);
    validKey(key);
    validCost(cost);
    return table === undefined
      ? consumeNew(limit, key, cost, nowMs, blank())
      : consumeOne(table, key, cost, nowMs, blank());
  };

  const peekSync = (checks: readonly Check[], at?: number): Outcome =>
    decideBatch(batchStore, checks, now(at), false);

  const resetSync = (key: string, limits?: readonly Limit[]): void => {
    validKey(key);
    const targets = limits === undefined ? [...tables.values()] : limits.map((l) => tables.get(l.key));
    for (const table of targets) {
      const slot = table?.slots.get(key);
      if (table !== undefined && slot !== undefined) {
        remove(table, key, slot);
        keys--;
        dropIfEmpty(table);
      }
    }
    if (limits === undefined) leases.forget(held, key);
  };

  // Gates: key → the time until which it is closed. Expired gates go when the map grows.
  const gates = new Map<string, number>();
  const gateWaitSync = (key: string, at?: number): number => {
    const t = now(at);
    const until = gates.get(validKey(key)) ?? 0;
    if (until <= t) gates.delete(key);
    return Math.max(0, until - t);
  };
  const closeGateSync = (key: string, waitMs: number, at?: number): number => {
    const t = now(at);
    const until = t + nonNegativeMs('waitMs', waitMs);
    if (until > (gates.get(validKey(key)) ?? 0)) gates.set(key, until);
    if (gates.size > 1024) for (const [k, u] of gates) if (u <= t) gates.delete(k);
    return gateWaitSync(key, t);
  };

  const acquireSync = (key: string, max: number, ttlMs: number, at?: number): AcquireResult =>
    leases.acquire(
      held,
      validKey(key),
      integerAtLeast('max', max, 1),
      positiveNumber('ttlMs', ttlMs),
      now(at),
    );

  const fastPath: FastPath = {
    clock,
    table: tableFor,
    hold: (table, functions) => {
      for (const f of functions) {
        (table as Table).holders++;
        holders.register(f, table as Table);
      }
    },
    consumeOne: consumeOne as FastPath['consumeOne'],
  };

  return markSynchronous({
    consumeSync,
    peekSync,
    resetSync,
    acquireSync,
    releaseSync: (lease, at) => leases.release(held, lease, now(at)),
    renewSync: (lease, ttlMs, at) => leases.renew(held, lease, positiveNumber('ttlMs', ttlMs), now(at)),
    stats: () => ({
      keys,
      tables: tables.size,
      leaseKeys: held.byKey.size,
      ...counters,
      expiredLeases: held.expired,
    }),
    consume: async (checks, nowMs) => consumeSync(checks, nowMs),
    peek: async (checks, nowMs) => peekSync(checks, nowMs),
    reset: async (key, limits) => resetSync(key, limits),
    acquire: async (key, max, ttlMs, nowMs) => acquireSync(key, max, ttlMs, nowMs),
    release: async (lease, nowMs) => leases.release(held, lease, now(nowMs)),
    renew: async (lease, ttlMs, nowMs) =>
      leases.renew(held, lease, positiveNumber('ttlMs', ttlMs), now(nowMs)),
    closeGate: async (key, waitMs, nowMs) => closeGateSync(key, waitMs, nowMs),
    gateWait: async (key, nowMs) => gateWaitSync(key, nowMs),
    [FAST_PATH]: fastPath,
  });
}
