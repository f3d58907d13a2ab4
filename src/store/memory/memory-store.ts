import type { Clock } from '../../core/clock.js';
import { blank, combine, type Decision, type Outcome } from '../../core/decision.js';
import type { Limit } from '../../core/limits.js';
import {
  integerAtLeast,
  knownKeys,
  optionsObject,
  positiveNumber,
  cost as validCost,
} from '../../internal/describe.js';
import { FAST_PATH, type FastPath } from '../../internal/fast-path.js';
import type { AcquireResult, Check, Lease, Store } from '../types.js';
import { sweep } from './eviction.js';
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
   * Most keys (limit states plus concurrency keys) held at once. When full, the store drops expired state
   * first, then evicts the live state nearest its expiry, down to 15/16 of `maxKeys`.
   * @default 1_000_000
   */
  maxKeys?: number;
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
  /** Concurrency keys with at least one lease. */
  readonly leaseKeys: number;
  /** States and leases dropped by sweeps because they had expired. */
  readonly expired: number;
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
  knownKeys('createMemoryStore()', o, ['maxKeys', 'clock']);
  const maxKeys = integerAtLeast('maxKeys', o.maxKeys ?? 1_000_000, 1);
  if (o.clock !== undefined && typeof o.clock !== 'function') positiveNumber('clock', o.clock);
  const clock = (o.clock as Clock | undefined) ?? Date.now;
  const target = maxKeys - Math.max(1, Math.floor(maxKeys / 16));

  const tables = new Map<string, Table>();
  const held = leases.createLeases();
  let keys = 0;
  const counters = { expired: 0, evicted: 0, sweeps: 0 };
  const scratch = new Float64Array(3);
  let undo = new Float64Array(24);

  const size = () => keys + held.byKey.size;
  const recount = () => {
    keys = 0;
    for (const table of tables.values()) keys += table.slots.size;
  };
  /** Makes room for `extra` new keys, sweeping when the store would exceed `maxKeys`. */
  const reserve = (extra: number, nowMs: number) => {
    if (size() + extra <= maxKeys) return;
    const live = () => countKeys() + held.byKey.size;
    const result = sweep(tables.values(), held, live, Math.max(0, target - extra), nowMs);
    counters.sweeps++;
    counters.expired += result.expired;
    counters.evicted += result.evicted;
    recount();
  };
  // Live count of rate-state keys, for the sweep's progress (tables shrink as it removes).
  const countKeys = () => {
    let n = 0;
    for (const table of tables.values()) n += table.slots.size;
    return n;
  };

  const tableFor = (limit: Limit): Table => {
    let table = tables.get(limit.key);
    if (table === undefined) {
      table = createTable(limit);
      tables.set(limit.key, table);
    }
    return table;
  };

  /** Decides without writing anything: the kernel runs on a copy of the cells. */
  const evaluate = (
    table: Table,
    key: string,
    cost: number,
    nowMs: number,
    out: Outcome = blank(),
  ): Outcome => {
    const slot = table.slots.get(key);
    scratch[0] = 0;
    scratch[1] = 0;
    scratch[2] = 0;
    if (slot !== undefined) {
      for (let c = 0; c < table.width; c++) scratch[c] = table.cells[slot * table.width + c]!;
    }
    return table.kernel.step(table.limit, scratch, 0, nowMs, cost, out);
  };

  const consumeOne = (table: Table, key: string, cost: number, nowMs: number, out: Outcome): Outcome => {
    // A key hammered in a row (one client bursting, an abuser retrying) skips the Map lookup.
    const slot = key === table.lastKey ? table.lastSlot : table.slots.get(key);
    if (slot !== undefined) {
      table.lastKey = key;
      table.lastSlot = slot;
      return table.kernel.step(table.limit, table.cells, slot * table.width, nowMs, cost, out);
    }
    const decision = evaluate(table, key, cost, nowMs, out);
    if (decision.allowed && cost > 0) {
      reserve(1, nowMs);
      const at = insert(table, key);
      keys++;
      for (let c = 0; c < table.width; c++) table.cells[at + c] = scratch[c]!;
    }
    return decision;
  };

  const consumeMany = (checks: readonly Check[], nowMs: number): Outcome => {
    const n = checks.length;
    const resolved: Table[] = new Array(n);
    let missing = 0;
    for (let i = 0; i < n; i++) {
      const check = checks[i]!;
      validCost(check.cost ?? 1);
      resolved[i] = tableFor(check.limit);
      if (!resolved[i]!.slots.has(check.key)) missing++;
    }
    // Room first, so that no sweep runs in the middle of the batch.
    if (missing > 0) reserve(missing, nowMs);
    if (undo.length < n * 4) undo = new Float64Array(n * 8);
    const decisions: Decision[] = new Array(n);
    let allowed = true;
    for (let i = 0; i < n; i++) {
      const { key, cost = 1 } = checks[i]!;
      const table = resolved[i]!;
      let slot = table.slots.get(key);
      undo[i * 4 + 3] = slot === undefined ? 1 : 0; // 1: created by this batch, 2: untouched
      if (slot === undefined && cost === 0) {
        undo[i * 4 + 3] = 2;
        decisions[i] = evaluate(table, key, 0, nowMs);
        continue;
      }
      if (slot === undefined) {
        insert(table, key);
        keys++;
        slot = table.slots.get(key)!;
      }
      const at = slot * table.width;
      for (let c = 0; c < table.width; c++) undo[i * 4 + c] = table.cells[at + c]!;
      decisions[i] = table.kernel.step(table.limit, table.cells, at, nowMs, cost, blank());
      if (!decisions[i]!.allowed) allowed = false;
    }
    if (!allowed) {
      // Undo in reverse order (a key checked twice is restored step by step), then report the untouched state.
      for (let i = n - 1; i >= 0; i--) {
        const table = resolved[i]!;
        const key = checks[i]!.key;
        const slot = table.slots.get(key)!;
        if (undo[i * 4 + 3] === 2) continue;
        if (undo[i * 4 + 3] === 1) {
          remove(table, key, slot);
          keys--;
        } else {
          for (let c = 0; c < table.width; c++) table.cells[slot * table.width + c] = undo[i * 4 + c]!;
        }
      }
      for (let i = 0; i < n; i++) {
        if (decisions[i]!.allowed) decisions[i] = evaluate(resolved[i]!, checks[i]!.key, 0, nowMs);
      }
    }
    return combine(decisions);
  };

  const consumeSync = (checks: readonly Check[], nowMs = clock()): Outcome => {
    if (checks.length === 1) {
      const check = checks[0]!;
      return consumeOne(tableFor(check.limit), check.key, validCost(check.cost ?? 1), nowMs, blank());
    }
    return consumeMany(checks, nowMs);
  };

  const peekSync = (checks: readonly Check[], nowMs = clock()): Outcome =>
    combine(checks.map((c) => evaluate(tableFor(c.limit), c.key, validCost(c.cost ?? 1), nowMs)));

  const resetSync = (key: string, limits?: readonly Limit[]): void => {
    const targets = limits === undefined ? [...tables.values()] : limits.map((l) => tables.get(l.key));
    for (const table of targets) {
      const slot = table?.slots.get(key);
      if (table !== undefined && slot !== undefined) {
        remove(table, key, slot);
        keys--;
      }
    }
    if (limits === undefined) held.byKey.delete(key);
  };

  const acquireSync = (key: string, max: number, ttlMs: number, nowMs = clock()): AcquireResult => {
    integerAtLeast('max', max, 1);
    positiveNumber('ttlMs', ttlMs);
    if (!held.byKey.has(key)) reserve(1, nowMs);
    return leases.acquire(held, key, max, ttlMs, nowMs);
  };

  const fastPath: FastPath = {
    clock,
    table: tableFor,
    consumeOne: consumeOne as FastPath['consumeOne'],
  };

  return {
    consumeSync,
    peekSync,
    resetSync,
    acquireSync,
    releaseSync: (lease, nowMs = clock()) => leases.release(held, lease, nowMs),
    renewSync: (lease, ttlMs, nowMs = clock()) =>
      leases.renew(held, lease, positiveNumber('ttlMs', ttlMs), nowMs),
    stats: () => ({ keys, leaseKeys: held.byKey.size, ...counters }),
    consume: async (checks, nowMs) => consumeSync(checks, nowMs),
    peek: async (checks, nowMs) => peekSync(checks, nowMs),
    reset: async (key, limits) => resetSync(key, limits),
    acquire: async (key, max, ttlMs, nowMs) => acquireSync(key, max, ttlMs, nowMs),
    release: async (lease, nowMs) => leases.release(held, lease, nowMs ?? clock()),
    renew: async (lease, ttlMs, nowMs) =>
      leases.renew(held, lease, positiveNumber('ttlMs', ttlMs), nowMs ?? clock()),
    [FAST_PATH]: fastPath,
  };
}
