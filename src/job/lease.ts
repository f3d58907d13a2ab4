import type { CheckpointFence } from './checkpoint.js';
import { lockLostError, messageOf } from './errors.js';
import type { JobLock } from './lock.js';

/**
 * The job lock while the job runs: renewed every third of `ttlMs`, a failed renewal (an I/O error, say a
 * Redis blip) retried until shortly before the expiry, and lost — `onLost` called once — when the lock was
 * taken over or when its expiry (as this process reckons it: the start of the last successful renewal plus
 * `ttlMs`, minus a tenth of it for safety) passes without a successful renewal, even if the event loop was
 * blocked meanwhile. Workers call `check()` before each item; checkpoint writes go through `fence`.
 *
 * @example
 * ```ts
 * const lease = startLease(lock, { ttlMs: 30_000, validFromMs: performance.now(), onLost: (e) => stop.abort(e) });
 * lease.check(); // throws once lost
 * await store.save(data, lease.fence);
 * lease.stop();
 * ```
 */
export function startLease(
  lock: JobLock,
  options: {
    readonly ttlMs: number;
    /** When the lock was asked for (on `now`'s clock): its expiry runs from there. */
    readonly validFromMs: number;
    readonly onLost: (error: Error) => void;
    /** A monotonic clock. @default performance.now */
    readonly now?: () => number;
  },
) {
  const { ttlMs, onLost } = options;
  const now = options.now ?? (() => performance.now());
  const marginMs = ttlMs / 10;
  let deadline = options.validFromMs + ttlMs - marginMs;
  let lost: Error | undefined;
  let lastError: unknown;
  let renewing = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const lose = (error: Error) => {
    if (lost !== undefined) return;
    lost = error;
    stop();
    onLost(error);
  };
  /** Whether the expiry passed (then the lease is lost). */
  const expired = (): boolean => {
    if (now() < deadline) return false;
    const why =
      lastError === undefined
        ? `its expiry passed before it was renewed (ttl ${ttlMs} ms; was the event loop blocked?)`
        : `it could not be renewed before its expiry: ${messageOf(lastError)}`;
    lose(lockLostError(lock.where, why));
    return true;
  };
  const schedule = (delayMs: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(tick, Math.max(0, Math.min(delayMs, deadline - now())));
    timer.unref?.();
  };
  function tick(): void {
    if (stopped || expired()) return;
    if (renewing) {
      schedule(deadline - now());
      return;
    }
    renewing = true;
    const startedMs = now();
    lock.renew().then(
      (ours) => {
        renewing = false;
        if (stopped) return;
        if (!ours) {
          lose(lockLostError(lock.where, 'another run took it over'));
          return;
        }
        lastError = undefined;
        deadline = Math.max(deadline, startedMs + ttlMs - marginMs);
        schedule(ttlMs / 3);
      },
      (error: unknown) => {
        renewing = false;
        lastError = error;
        if (!stopped && !expired()) schedule(ttlMs / 10);
      },
    );
  }
  function stop(): void {
    stopped = true;
    clearTimeout(timer);
  }
  schedule(ttlMs / 3);

  const check = (): void => {
    if (lost === undefined) expired();
    if (lost !== undefined) throw lost;
  };
  const fence: CheckpointFence = {
    lost() {
      lose(lockLostError(lock.where, 'another run took it over'));
      return lost as Error;
    },
    async check() {
      check();
      if (!(await lock.owns())) {
        lose(lockLostError(lock.where, 'another run took it over'));
        throw lost;
      }
      check();
    },
    ...(lock.redis !== undefined && { redis: lock.redis }),
  };
  /** False once the lock is lost (its expiry passed, by this process's reckoning, or it was taken over). */
  const valid = (): boolean => {
    if (lost === undefined) expired();
    return lost === undefined;
  };
  return { check, valid, fence, stop };
}

/** A lease as {@link startLease} returns it. */
export type Lease = ReturnType<typeof startLease>;
