import { blank, combine, type Decision, type Outcome } from '../../core/decision.js';
import type { Limit } from '../../core/limits.js';
import { cost as validCost, key as validKey } from '../../internal/describe.js';
import type { Check } from '../types.js';
import type { Table } from './table.js';

/** What a batch needs from its store. */
export interface BatchStore {
  tableFor(limit: Limit): Table;
  /** Makes room for `extra` new keys (may sweep). */
  reserve(extra: number, nowMs: number): void;
  /** Gives `key` a zeroed slot in `table`; returns its first cell index. */
  insert(table: Table, key: string): number;
  /** The decision for `key` with no effect on any state. */
  evaluate(table: Table, key: string, cost: number, nowMs: number): Outcome;
}

/** Checks of one limit and key, merged: they spend the sum of their costs at once. */
interface Group {
  table: Table;
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
    const table = store.tableFor(check.limit);
    const key = validKey(check.key);
    let g = groups.findIndex((group) => group.table === table && group.key === key);
    if (g === -1) g = groups.push({ table, key, cost: 0, decision: undefined as never }) - 1;
    groups[g]!.cost += cost;
    groupOf[i] = g;
  }
  if (staged.length < groups.length * 3) staged = new Float64Array(groups.length * 6);

  let allowed = true;
  for (const [g, group] of groups.entries()) {
    const { table, key } = group;
    const slot = table.slots.get(key);
    for (let c = 0; c < table.width; c++)
      staged[g * 3 + c] = slot === undefined ? 0 : table.cells[slot * table.width + c]!;
    group.decision = table.kernel.step(table.limit, staged, g * 3, nowMs, group.cost, blank());
    if (!group.decision.allowed) allowed = false;
  }

  if (!allowed) {
    // Nothing is consumed; the limits that would have allowed report their untouched budget.
    for (const group of groups) {
      if (group.decision.allowed) group.decision = store.evaluate(group.table, group.key, 0, nowMs);
    }
  } else if (commit) {
    let missing = 0;
    for (const group of groups) if (group.cost > 0 && !group.table.slots.has(group.key)) missing++;
    if (missing > 0) store.reserve(missing, nowMs);
    for (const [g, { table, key, cost }] of groups.entries()) {
      if (cost === 0) continue;
      const slot = table.slots.get(key);
      // A sweep may have evicted one of the batch's own keys: the staged state is complete, so re-insert it.
      const at = slot === undefined ? store.insert(table, key) : slot * table.width;
      for (let c = 0; c < table.width; c++) table.cells[at + c] = staged[g * 3 + c]!;
    }
  }
  return combine(groupOf.map((g) => groups[g]!.decision));
}
