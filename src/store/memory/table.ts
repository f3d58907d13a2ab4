import { type Kernel, kernelOf } from '../../core/algorithms/index.js';
import type { Limit } from '../../core/limits.js';

/**
 * The state of one limit for every key, as a struct of arrays: a Map from key to slot number and one
 * Float64Array holding `width` cells per slot. A decision reads and writes cells in place; nothing is
 * allocated per key beyond the Map entry.
 */
export interface Table {
  readonly limit: Limit;
  readonly kernel: Kernel;
  readonly width: number;
  readonly slots: Map<string, number>;
  cells: Float64Array;
  /** Freed slots, reused before the array grows. */
  readonly free: number[];
  /** Next never-used slot. */
  next: number;
  /** Limiter functions alive that use this table: it is kept, even empty, while any exists. */
  holders: number;
  /** The key decided last and its slot: a cache that spares the Map lookup for a key hit repeatedly. */
  lastKey: string | undefined;
  lastSlot: number | undefined;
}

export function createTable(limit: Limit): Table {
  const kernel = kernelOf(limit);
  return {
    limit,
    kernel,
    width: kernel.width,
    slots: new Map(),
    cells: new Float64Array(kernel.width * 64),
    free: [],
    next: 0,
    holders: 0,
    lastKey: undefined,
    lastSlot: undefined,
  };
}

/** Gives `key` a slot with all-zero cells ("no state") and returns the slot's first cell index. */
export function insert(table: Table, key: string): number {
  let slot = table.free.pop();
  if (slot === undefined) {
    slot = table.next++;
    if ((slot + 1) * table.width > table.cells.length) {
      const grown = new Float64Array(table.cells.length * 2);
      grown.set(table.cells);
      table.cells = grown;
    }
  }
  table.slots.set(key, slot);
  return slot * table.width;
}

/** Forgets `key`: its cells are zeroed and its slot reused later. */
export function remove(table: Table, key: string, slot: number): void {
  table.slots.delete(key);
  if (table.lastKey === key) table.lastKey = undefined;
  table.cells.fill(0, slot * table.width, (slot + 1) * table.width);
  table.free.push(slot);
}

/** When the state of the slot stops mattering (ms). */
export function expiresAt(table: Table, slot: number): number {
  return table.kernel.expiresAt(table.limit, table.cells, slot * table.width);
}
