import { kernelOf } from '../../core/algorithms/index.js';
import { blank, combine, type Decision, type Outcome } from '../../core/decision.js';
import type { Limit } from '../../core/limits.js';
import { cost as validCost, key as validKey } from '../../internal/describe.js';
import type { Check } from '../types.js';
import type { Keep } from './eviction.js';
import type { Table } from './table.js';

/** What a batch needs from its store. */
export interface BatchStore {
  /** The tables that exist, by limit key. */
  readonly tables: ReadonlyMap<string, Table>;
  /** The table of a limit, created if needed (on commit only). */
  tableFor(limit: Limit): Table;
  /** Makes room for `extra` new keys (may sweep), sparing `keep`. */
  reserve(extra: number, nowMs: number, keep?: Keep): void;
  /** Gives `key` a zeroed slot in `table`; returns its first cell index. */
  insert(table: Table, key: string): number;
  /** The decision for `key` with no effect on any state. */
  evaluate(limit: Limit, key: string, cost: number, nowMs: number): Outcome;
}

/** Checks of one limit and key, merged: they spend the sum of their costs at once. */
interface Group {
  limit: Limit;
  key: string;
  cost: number;
  decision: Decision;
}

// Staged states of a batch, `3` cells per group (the widest kernel). Grown on demand; batches never nest.
let staged = new Float64Array(3 * 8);

/**
 * Decides a batch all-or-nothing. Checks of the same limit and key are merged (their costs add up), every
 * group is decided on a copy of its state, and only if every group allows are the copies written back —
 * so a denied batch writes nothing, sweeps nothing and evicts nothing. With `commit` false this is `peek`:
 * the very answer `consume` would give.
 */
export function decideBatch(
  store: BatchStore,
  checks: readonly Check[],
  nowMs: number,
  commit: boolean,
): Outcome {
  const groups: Group[] = [];
  const groupOf: number[] = new Array(checks.length);
  for (const [i, check] of checks.entries()) {
    const cost = validCost(check.cost ?? 1);
    const key = validKey(check.key);
    let g = groups.findIndex((group) => group.limit.key === check.limit.key && group.key === key);
    if (g === -1) g = groups.push({ limit: check.limit, key, cost: 0, decision: undefined as never }) - 1;
    groups[g]!.cost += cost;
    groupOf[i] = g;
  }
  if (staged.length < groups.length * 3) staged = new Float64Array(groups.length * 6);

  let allowed = true;
  for (const [g, group] of groups.entries()) {
    const table = store.tables.get(group.limit.key);
    const slot = table?.slots.get(group.key);
    for (let c = 0; c < 3; c++) {
      staged[g * 3 + c] =
        table === undefined || slot === undefined || c >= table.width
          ? 0
          : table.cells[slot * table.width + c]!;
    }
    group.decision = kernelOf(group.limit).step(group.limit, staged, g * 3, nowMs, group.cost, blank());
    if (!group.decision.allowed) allowed = false;
  }

  if (!allowed) {
    // Nothing is consumed; the limits that would have allowed report their untouched budget.
    for (const group of groups) {
      if (group.decision.allowed) group.decision = store.evaluate(group.limit, group.key, 0, nowMs);
    }
  } else if (commit) {
    write(store, groups, nowMs);
  }
  return combine(groupOf.map((g) => groups[g]!.decision));
}

/** Writes an allowed batch's staged states, making room first without evicting the batch's own keys. */
function write(store: BatchStore, groups: readonly Group[], nowMs: number): void {
  const writing = groups.filter((group) => group.cost > 0);
  const missing = writing.filter((g) => store.tables.get(g.limit.key)?.slots.has(g.key) !== true).length;
  if (missing > 0) {
    const own = new Map<Table, Set<string>>();
    for (const { limit, key } of writing) {
      const table = store.tables.get(limit.key);
      if (table !== undefined) own.set(table, (own.get(table) ?? new Set()).add(key));
    }
    store.reserve(missing, nowMs, (table, key) => own.get(table)?.has(key) === true);
  }
  for (const [g, group] of groups.entries()) {
    if (group.cost === 0) continue;
    const table = store.tableFor(group.limit);
    const slot = table.slots.get(group.key);
    const at = slot === undefined ? store.insert(table, group.key) : slot * table.width;
    for (let c = 0; c < table.width; c++) table.cells[at + c] = staged[g * 3 + c]!;
  }
}
