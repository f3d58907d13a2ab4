import type { DegradedReason, Outcome } from '../core/decision.js';
import type { Limit } from '../core/limits.js';

/**
 * One limit to apply to one key, with the request's cost.
 *
 * @example
 * ```ts
 * const check: Check = { limit: tokenBucket({ rate: 10, burst: 60 }), key: 'user-42', cost: 1 };
 * ```
 */
export interface Check {
  /** The limit; its `key` (id and parameters) namespaces the state. */
  readonly limit: Limit;
  /** Whose budget: an API key hash, a user id, an IP, a route … */
  readonly key: string;
  /**
   * Units of budget this request takes: a finite number ≥ 0, fractional allowed; 0 only looks.
   * @default 1
   */
  readonly cost?: number;
}

/**
 * A held concurrency slot. Give it back with `release`; if its holder crashes, it frees itself at
 * `expiresAtMs`.
 *
 * @example
 * ```ts
 * const result = await store.acquire('user-42', 5, 30_000);
 * if (result.acquired) try { await work(); } finally { await store.release(result.lease); }
 * ```
 */
export interface Lease {
  /** The concurrency key the lease belongs to. */
  readonly key: string;
  /** Unique id of this lease within its key. */
  readonly id: string;
  /** When the lease frees itself if not released or renewed (ms, on the store's clock). */
  readonly expiresAtMs: number;
}

/**
 * The answer to `acquire`: a lease, or a denial; both say how many are in flight.
 *
 * @example
 * ```ts
 * const result: AcquireResult = await store.acquire('api-user-9', 5, 60_000);
 * if (!result.acquired) return reply(409, { inFlight: result.current, max: result.max });
 * ```
 */
export type AcquireResult =
  | {
      readonly acquired: true;
      readonly lease: Lease;
      /** Leases in flight for the key, this one included. */
      readonly current: number;
      readonly max: number;
      /** Set only in degraded mode (see {@link Outcome.reason}). */
      readonly reason?: DegradedReason;
    }
  | {
      readonly acquired: false;
      /** Leases in flight for the key. */
      readonly current: number;
      readonly max: number;
      /** Set when the store refused because it holds as many lease keys as it may, all live. */
      readonly storeFull?: true;
      /** Set only in degraded mode (see {@link Outcome.reason}). */
      readonly reason?: DegradedReason;
    };

/**
 * The store contract. Every store (memory, Redis) passes the same contract suite in `test/`.
 * `nowMs`, where accepted, overrides the store's own clock (stores that use a server clock may ignore it).
 *
 * @example
 * ```ts
 * const store: Store = createMemoryStore();
 * const outcome = await store.consume([{ limit: perSecond, key: 'ip:203.0.113.9' }, { limit: perDay, key: 'acct:7' }]);
 * ```
 */
export interface Store {
  /**
   * Applies a batch of checks atomically: if every check allows, every one is consumed; if any denies,
   * nothing is consumed anywhere. Checks run in order, so two checks on the same limit and key count twice.
   */
  consume(checks: readonly Check[], nowMs?: number): Promise<Outcome>;
  /** What `consume` would answer, consuming nothing. */
  peek(checks: readonly Check[], nowMs?: number): Promise<Outcome>;
  /** Forgets the state of `key` under the given limits, or under every limit and its leases when omitted. */
  reset(key: string, limits?: readonly Limit[]): Promise<void>;
  /** Takes one of `max` concurrency slots of `key` for at most `ttlMs`. */
  acquire(key: string, max: number, ttlMs: number, nowMs?: number): Promise<AcquireResult>;
  /** Gives a lease back. Resolves `true` if it was still held, `false` if it had expired or was unknown. */
  release(lease: Lease, nowMs?: number): Promise<boolean>;
  /** Extends a live lease to `ttlMs` from now; resolves the renewed lease, or `undefined` if it had expired. */
  renew(lease: Lease, ttlMs: number, nowMs?: number): Promise<Lease | undefined>;
  /**
   * Closes the gate of `key` for `waitMs` from now, on the store's clock (a gate only ever extends);
   * resolves the gate's remaining wait in ms. Shared pauses: a client's cooldown after a 429, seen by every
   * client of the budget. Optional: the memory and Redis stores have it.
   */
  closeGate?(key: string, waitMs: number, nowMs?: number): Promise<number>;
  /** The remaining wait of the gate of `key`, in ms (0: open). Optional, with `closeGate`. */
  gateWait?(key: string, nowMs?: number): Promise<number>;
}
