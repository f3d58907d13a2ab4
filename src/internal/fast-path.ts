import type { Outcome } from '../core/decision.js';
import type { Limit } from '../core/limits.js';

/** The symbol under which a synchronous store exposes its fast path to `createLimiter`. Never re-exported. */
export const FAST_PATH: unique symbol = Symbol('sluice.fastPath');

/** A limit's state table inside a synchronous store. */
export interface TableHandle {
  readonly limit: Limit;
}

/** What a synchronous store offers a limiter: tables resolved once, single-check decisions without arrays. */
export interface FastPath {
  readonly clock: () => number;
  /** The limit's table, created if needed. */
  table(limit: Limit): TableHandle;
  /**
   * Keeps `table` in the store for as long as any of `holders` (the limiter functions that use it) can
   * still be called; once they are garbage, the table goes when it holds no state.
   */
  hold(table: TableHandle, holders: readonly object[]): void;
  consumeOne(table: TableHandle, key: string, cost: number, nowMs: number, out: Outcome): Outcome;
}

/** Stores exactly as their factory made them: a copy (`{ ...store, consume }`) is not among them. */
const genuine = new WeakSet<object>();

/** Registers a synchronous store as made by its factory; returns it. */
export function markSynchronous<T extends object>(store: T): T {
  genuine.add(store);
  return store;
}

/**
 * Whether `store` is a synchronous store as its factory made it: only then may its sync twins and fast path
 * stand in for its async methods (a wrapper that replaced `consume` must see every call).
 */
export const isSynchronous = (store: object): boolean => genuine.has(store);
