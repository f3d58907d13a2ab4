/**
 * A clock returns the current time in milliseconds since the Unix epoch. Time is always a parameter in
 * sluice, so tests run on a {@link createManualClock} without fake timers.
 *
 * @example
 * ```ts
 * const clock: Clock = Date.now;
 * ```
 */
export type Clock = () => number;

/**
 * Waits `ms` milliseconds; rejects with the signal's reason when `signal` aborts first.
 *
 * @example
 * ```ts
 * await systemSleep(250, AbortSignal.timeout(1000));
 * ```
 */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * The real clock: `Date.now`.
 *
 * @example
 * ```ts
 * createLimiter({ limits: [tokenBucket({ rate: 5 })], clock: systemClock });
 * ```
 */
export const systemClock: Clock = Date.now;

/**
 * The real sleep: a timer that an `AbortSignal` cancels. Waits longer than setTimeout's 2^31−1 ms limit are
 * chained rather than fired at once.
 *
 * @example
 * ```ts
 * await systemSleep(1000);
 * ```
 */
export const systemSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const deadline = Date.now() + ms;
    let timer: ReturnType<typeof setTimeout>;
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const arm = () => {
      const left = deadline - Date.now();
      if (left <= 0) {
        signal?.removeEventListener('abort', onAbort);
        return resolve();
      }
      timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    arm();
  });

/**
 * A clock that moves only when told to, with a matching sleep. Made by {@link createManualClock}.
 *
 * @example
 * ```ts
 * const clock: ManualClock = createManualClock(0);
 * const woken = clock.sleep(500);
 * clock.advance(500); // `woken` resolves
 * ```
 */
export interface ManualClock {
  /** The current time; pass it (`clock.now`) wherever a {@link Clock} is expected. */
  readonly now: Clock;
  /** A {@link Sleep} that resolves when the clock is advanced past its deadline. */
  readonly sleep: Sleep;
  /** Moves the clock forward by `ms` and wakes every sleeper whose deadline has come. */
  advance(ms: number): void;
  /** Sets the clock to `ms` (which may move it backwards, to test robustness) and wakes due sleepers. */
  set(ms: number): void;
  /** Number of sleepers still waiting. */
  pending(): number;
}

/**
 * A manual clock for tests and simulations: time stands still until `advance` or `set` moves it.
 *
 * @param startMs - the initial time
 * @default startMs 0
 *
 * @example
 * ```ts
 * const clock = createManualClock(1_700_000_000_000);
 * const limiter = createLimiter({ limits: [tokenBucket({ rate: 1, burst: 1 })], clock: clock.now });
 * limiter.consumeSync('k').allowed; // true
 * limiter.consumeSync('k').allowed; // false
 * clock.advance(1000);
 * limiter.consumeSync('k').allowed; // true
 * ```
 */
export function createManualClock(startMs = 0): ManualClock {
  let time = startMs;
  const sleepers = new Set<{ deadline: number; wake: () => void }>();
  const wakeDue = () => {
    for (const sleeper of [...sleepers].sort((a, b) => a.deadline - b.deadline)) {
      if (sleeper.deadline <= time) sleeper.wake();
    }
  };
  return {
    now: () => time,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const sleeper = {
          deadline: time + ms,
          wake: () => {
            sleepers.delete(sleeper);
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          sleepers.delete(sleeper);
          reject(signal!.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        if (ms <= 0) return sleeper.wake();
        sleepers.add(sleeper);
      }),
    advance(ms) {
      time += ms;
      wakeDue();
    },
    set(ms) {
      time = ms;
      wakeDue();
    },
    pending: () => sleepers.size,
  };
}
