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
