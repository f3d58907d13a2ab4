import type { Clock } from '../core/clock.js';
import type { DegradedReason } from '../core/decision.js';
import { ConfigError, StoreError } from '../core/errors.js';

/** Why a store call failed. */
export type Failure = Exclude<DegradedReason, 'fallback'>;

/** The result of a call through a {@link Breaker}. */
export type Attempt<T> =
  | { readonly ok: true; readonly value: T }
  /** `error` is undefined when the breaker answered without calling the store. */
  | { readonly ok: false; readonly reason: Failure; readonly error: unknown };

/** A circuit breaker with a per-call timeout, in front of a store. */
export interface Breaker {
  /**
   * Calls through the breaker, within the timeout. Rethrows a `ConfigError` (the caller's fault). A call
   * that timed out but answers later hands its value to `onLate` (to give back what it took).
   */
  attempt<T>(call: () => Promise<T>, onLate?: (value: T) => void): Promise<Attempt<T>>;
  /** Milliseconds until the store is tried again (at least 1: a probe may be in flight). */
  waitMs(): number;
  isUp(): boolean;
  /** The kind of the failure that last took the store down. */
  lastReason(): Failure;
  /** The error of the last failed call (`undefined` before any). */
  lastError(): unknown;
  readonly counters: { timeouts: number; errors: number; probes: number; recoveries: number };
}

export interface BreakerOptions {
  readonly timeoutMs: number;
  readonly retryMs: number;
  /** Consecutive failures that take the store down (a failed probe takes it down again at once). */
  readonly threshold: number;
  readonly clock: Clock;
  readonly onError?: ((error: unknown, reason: Failure) => unknown) | undefined;
}

/** The code of the `StoreError` of a call that did not settle in time. */
export const TIMEOUT_CODE = 'ERR_SLUICE_STORE_TIMEOUT';

/** Settles like `call()`, or rejects with a timeout `StoreError` after `ms`, whichever comes first. */
export function within<T>(call: () => Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // When the timer fires, replies that have already arrived are read first (setImmediate runs after the
    // event loop's I/O phase): a busy event loop (a GC pause, a slow handler) is not a slow store.
    const timer = setTimeout(
      () =>
        setImmediate(() => reject(new StoreError(TIMEOUT_CODE, `The store did not answer within ${ms} ms`))),
      ms,
    );
    // Never keeps a process alive; optional where timers are plain numbers (browsers, workers).
    timer.unref?.();
    let pending: Promise<T>;
    try {
      pending = Promise.resolve(call());
    } catch (error) {
      pending = Promise.reject(error);
    }
    // A late rejection lands here, after the timeout: handled, never an unhandled rejection.
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * `threshold` consecutive failures (timeouts or errors) take the store down: calls are refused at once for `retryMs`, then one
 * call is let through as a probe (concurrent calls are still refused), and its success brings the store up.
 * Breaker time is read from `clock`; the timeout is a real timer.
 */
export function createBreaker({ timeoutMs, retryMs, threshold, clock, onError }: BreakerOptions): Breaker {
  // `epoch` moves at every change of state, so that a call started before a change (a slow call still in
  // flight when the store went down, or when a probe succeeded) cannot undo it.
  let up = true;
  let epoch = 0;
  let downAtMs = 0;
  let probing = false;
  let failures = 0; // consecutive, while up
  let lastReason: Failure = 'store-error';
  let lastError: unknown;
  const counters = { timeouts: 0, errors: 0, probes: 0, recoveries: 0 };

  /** Whether a call may go to the store now, and whether it is the probe. `undefined`: refuse. */
  const admit = (): { probe: boolean; epoch: number } | undefined => {
    if (up) return { probe: false, epoch };
    const elapsed = clock() - downAtMs;
    // A clock that went backwards must not keep the store down for good.
    if (probing || (elapsed >= 0 && elapsed < retryMs)) return undefined;
    probing = true;
    counters.probes++;
    return { probe: true, epoch };
  };

  const failed = (ticket: { probe: boolean; epoch: number }, error: unknown, reason: Failure) => {
    if (reason === 'store-timeout') counters.timeouts++;
    else counters.errors++;
    lastError = error;
    if (up && ticket.epoch === epoch) failures++;
    if (ticket.probe || (up && ticket.epoch === epoch && failures >= threshold)) {
      failures = 0;
      up = false;
      probing = false;
      downAtMs = clock();
      lastReason = reason;
      epoch++;
    }
    try {
      const returned: unknown = onError?.(error, reason);
      // An async logger's rejection must not become an unhandled rejection either.
      if (returned instanceof Promise) returned.catch(() => {});
    } catch {
      // A failing logger must not turn a degraded answer into an error.
    }
  };

  return {
    counters,
    isUp: () => up,
    lastReason: () => lastReason,
    lastError: () => lastError,
    waitMs: () => {
      const elapsed = clock() - downAtMs;
      return Math.max(1, Math.ceil(retryMs - (elapsed < 0 ? retryMs : elapsed)));
    },
    attempt: async <T>(call: () => Promise<T>, onLate?: (value: T) => void) => {
      const ticket = admit();
      if (ticket === undefined) return { ok: false, reason: lastReason, error: undefined };
      let pending: Promise<T> | undefined;
      const started = () => {
        pending = call();
        return pending;
      };
      try {
        // Only a call with `onLate` needs its promise kept: the others (every decision) skip the wrapper.
        const value = await within(onLate === undefined ? call : started, timeoutMs);
        if (ticket.epoch === epoch) failures = 0;
        if (ticket.probe) {
          up = true;
          probing = false;
          counters.recoveries++;
          epoch++;
        }
        return { ok: true, value };
      } catch (error) {
        if (error instanceof ConfigError) {
          // The store answered the caller's mistake: no verdict on its health; the next call probes.
          if (ticket.probe) probing = false;
          throw error;
        }
        const reason =
          error instanceof StoreError && error.code === TIMEOUT_CODE ? 'store-timeout' : 'store-error';
        if (reason === 'store-timeout' && onLate !== undefined) pending?.then(onLate, () => {});
        failed(ticket, error, reason);
        return { ok: false, reason, error };
      }
    },
  };
}
