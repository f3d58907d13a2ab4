import type { Sleep } from '../core/clock.js';
import type { Limit } from '../core/limits.js';
import type { Lease, Store } from '../store/types.js';

/**
 * Admission through a shared store (a budget several schedulers draw from): the store's gate, then a
 * concurrency lease (when the budget caps concurrency), then every limit, in that order, so that a request
 * turned away by one consumes nothing from the next.
 */

/** What `admit` answered: start (with a lease to give back), or wait until `atMs` (on the local clock). */
export type Admission =
  | { readonly start: true; readonly lease?: Lease }
  | { readonly start: false; readonly atMs: number; readonly never?: boolean };

/** Polling interval while the shared concurrency is full (no store notifies a release). */
export const LEASE_POLL_MS = 25;

/** A scheduler's view of a shared budget. */
export interface SharedBudget {
  /** Decides whether the head task (of `cost`) may start now. */
  admit(limits: readonly Limit[], cost: number, nowMs: number): Promise<Admission>;
  /** Closes the budget's gate for `waitMs` (every scheduler of the budget sees it). */
  closeGate(waitMs: number): void;
  /** Gives a lease back (errors are ignored: a lease the store lost expires by itself). */
  release(lease: Lease): void;
  /**
   * Keeps a lease alive while its task runs (renewed every third of its ttl); the returned function stops
   * renewing and gives the lease back.
   */
  hold(lease: Lease): () => void;
}

/**
 * The shared budget `key` in `store`: limits under `key`, leases of at most `concurrency` under `key`
 * (none when `Infinity`), each for at most `leaseTtlMs`, and the store's gate under `key`.
 */
export function createSharedBudget(
  store: Store,
  key: string,
  concurrency: () => number,
  leaseTtlMs: number,
  clock: () => number,
  sleep: Sleep,
): SharedBudget {
  const ignore = () => {};
  return {
    async admit(limits, cost, nowMs) {
      if (store.gateWait !== undefined) {
        const waitMs = await store.gateWait(key);
        if (waitMs > 0) return { start: false, atMs: clock() + waitMs };
      }
      let lease: Lease | undefined;
      const max = concurrency();
      if (Number.isFinite(max)) {
        const held = await store.acquire(key, max, leaseTtlMs);
        if (!held.acquired) return { start: false, atMs: clock() + LEASE_POLL_MS };
        lease = held.lease;
      }
      if (limits.length > 0) {
        let outcome: Awaited<ReturnType<Store['consume']>>;
        try {
          outcome = await store.consume(limits.map((limit) => ({ limit, key, cost })));
        } catch (error) {
          if (lease !== undefined) store.release(lease).catch(ignore);
          throw error;
        }
        if (!outcome.allowed) {
          if (lease !== undefined) store.release(lease).catch(ignore);
          if (outcome.retryAfterMs === Number.POSITIVE_INFINITY)
            return { start: false, atMs: nowMs, never: true };
          return { start: false, atMs: clock() + Math.max(1, outcome.retryAfterMs) };
        }
      }
      return lease === undefined ? { start: true } : { start: true, lease };
    },
    closeGate(waitMs) {
      store.closeGate?.(key, Math.max(0, waitMs)).catch(ignore);
    },
    release(lease) {
      store.release(lease).catch(ignore);
    },
    hold(lease) {
      let current = lease;
      const controller = new AbortController();
      // A renewal that fails (a store blip, or the lease already gone) is tried again soon; a lease that is
      // gone is taken afresh if a slot is free, so the count in the store stays right.
      const renew = async () => {
        let waitMs = leaseTtlMs / 3;
        for (;;) {
          await sleep(waitMs, controller.signal);
          const renewed = await store.renew(current, leaseTtlMs).catch(() => undefined);
          if (controller.signal.aborted) return;
          if (renewed !== undefined) {
            current = renewed;
            waitMs = leaseTtlMs / 3;
            continue;
          }
          waitMs = leaseTtlMs / 10;
          const again = await store.acquire(key, concurrency(), leaseTtlMs).catch(() => undefined);
          if (controller.signal.aborted) {
            if (again?.acquired) store.release(again.lease).catch(ignore);
            return;
          }
          if (again?.acquired) {
            current = again.lease;
            waitMs = leaseTtlMs / 3;
          }
        }
      };
      renew().catch(ignore);
      return () => {
        controller.abort();
        store.release(current).catch(ignore);
      };
    },
  };
}
