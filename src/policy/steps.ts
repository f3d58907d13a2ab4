/**
 * The store calls of one decision and the two drivers that answer them: synchronously on a memory store,
 * asynchronously on any store (see `decisionSteps` in enforce.ts).
 */
import type { Outcome } from '../core/decision.js';
import { isSynchronous } from '../internal/fast-path.js';
import type { MemoryStore } from '../store/memory/memory-store.js';
import type { Check, Lease, Store } from '../store/types.js';
import type { Matched, Verdict } from './verdict.js';

/** One store call of a decision, as the decision steps ask for them (see `decisionSteps`). */
export type Step =
  | { readonly op: 'acquire'; readonly key: string; readonly max: number; readonly ttlMs: number }
  | {
      readonly op: 'consume';
      readonly enforced: readonly Check[];
      readonly shadowed: readonly Check[];
      /** The decision time, for the enforcer's own store (which shares its clock); else the store's. */
      readonly nowMs: number | undefined;
    }
  | { readonly op: 'release'; readonly leases: Lease[] }
  /** A read of budgets, for the header fields of a request turned away for concurrency (never throws). */
  | { readonly op: 'peek'; readonly checks: readonly Check[]; readonly nowMs: number | undefined };
/** The answer to a `consume` step: a shadow consume that failed gives undefined, never an error. */
export interface Consumed {
  readonly enforced: Outcome | undefined;
  readonly shadowed: Outcome | undefined;
}

/** The store itself when its sync twins may decide without a promise: a memory store, as made. */
export const syncOf = (store: Store): MemoryStore | undefined =>
  isSynchronous(store) ? (store as MemoryStore) : undefined;

/** The `consume` step of the matched policies (none if they have no rate limits to check). */
export function consumeStep(
  found: readonly Matched[],
  concurrencyDenied: boolean,
  nowMs: number | undefined,
): Step | undefined {
  const enforced: Check[] = [];
  const shadowed: Check[] = [];
  for (const { policy, key } of found) {
    const into = policy.mode === 'enforce' ? enforced : shadowed;
    // Turned away for concurrency: the enforcing policies' budgets are not touched.
    if (into === enforced && concurrencyDenied) continue;
    for (const limit of policy.limits) into.push({ limit, key, cost: policy.cost });
  }
  return enforced.length > 0 || shadowed.length > 0
    ? { op: 'consume', enforced, shadowed, nowMs }
    : undefined;
}

/** Runs a step on a synchronous store. */
export function stepSync(store: MemoryStore, step: Step): unknown {
  switch (step.op) {
    case 'acquire':
      return store.acquireSync(step.key, step.max, step.ttlMs);
    case 'consume': {
      let shadowed: Outcome | undefined;
      if (step.shadowed.length > 0)
        try {
          shadowed = store.consumeSync(step.shadowed, step.nowMs);
        } catch {}
      const enforced = step.enforced.length > 0 ? store.consumeSync(step.enforced, step.nowMs) : undefined;
      return { enforced, shadowed } satisfies Consumed;
    }
    case 'peek':
      try {
        return store.peekSync(step.checks, step.nowMs);
      } catch {
        return undefined;
      }
    case 'release':
      for (const lease of step.leases.splice(0))
        try {
          store.releaseSync(lease);
        } catch {}
      return undefined;
  }
}

/** Runs a step on any store. */
export async function stepAsync(store: Store, step: Step): Promise<unknown> {
  switch (step.op) {
    case 'acquire':
      return store.acquire(step.key, step.max, step.ttlMs);
    case 'consume': {
      // A shadow policy never affects the response, its store failing included.
      if (step.shadowed.length === 0)
        return { enforced: await store.consume(step.enforced, step.nowMs), shadowed: undefined };
      if (step.enforced.length === 0) {
        const shadowed = await store.consume(step.shadowed, step.nowMs).catch(() => undefined);
        return { enforced: undefined, shadowed } satisfies Consumed;
      }
      const [enforced, shadowed] = await Promise.allSettled([
        step.enforced.length > 0 ? store.consume(step.enforced, step.nowMs) : undefined,
        step.shadowed.length > 0 ? store.consume(step.shadowed, step.nowMs) : undefined,
      ]);
      if (enforced.status === 'rejected') throw enforced.reason;
      return {
        enforced: enforced.value,
        shadowed: shadowed.status === 'fulfilled' ? shadowed.value : undefined,
      } satisfies Consumed;
    }
    case 'peek':
      return store.peek(step.checks, step.nowMs).catch(() => undefined);
    case 'release':
      await Promise.all(step.leases.splice(0).map((lease) => store.release(lease).catch(() => false)));
      return undefined;
  }
}

/** Drives decision steps on a synchronous store: the verdict without a promise. */
export function runSync(steps: Generator<Step, Verdict, unknown>, store: MemoryStore): Verdict {
  let next = steps.next();
  while (next.done !== true) {
    let answer: unknown;
    try {
      answer = stepSync(store, next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}

/** Drives decision steps on any store. */
export async function runAsync(steps: Generator<Step, Verdict, unknown>, store: Store): Promise<Verdict> {
  let next = steps.next();
  while (next.done !== true) {
    let answer: unknown;
    try {
      answer = await stepAsync(store, next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}
