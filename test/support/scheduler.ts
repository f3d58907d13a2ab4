import { createScheduler, type Scheduler, type SchedulerOptions } from '../../src/client/scheduler.js';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';

/** Fixtures of the scheduler's tests (src/client/scheduler*.test.ts): a manual clock and hand-settled tasks. */

/** A scheduler on a manual clock at 0, whose sleeps wake when the test advances the clock. */
export function manual(options: SchedulerOptions = {}): { clock: ManualClock; scheduler: Scheduler } {
  const clock = createManualClock(0);
  return { clock, scheduler: createScheduler({ clock: clock.now, sleep: clock.sleep, ...options }) };
}

/** Lets every pending promise callback run (one macrotask turn; no timer involved). */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function advance(clock: ManualClock, ms: number): Promise<void> {
  clock.advance(ms);
  await flush();
}

/** A task the test settles by hand; records when it started and the signal it was given. */
export function manualTask<T = void>(clock: ManualClock) {
  const record: { startedAt?: number; signal?: AbortSignal } = {};
  let resolve: (value: T) => void = () => {};
  let reject: (error: unknown) => void = () => {};
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {
    record,
    run: (signal: AbortSignal) => {
      record.startedAt = clock.now();
      record.signal = signal;
      return promise;
    },
    finish: (value: T) => resolve(value),
    fail: (error: unknown) => reject(error),
  };
}

/** Schedules `count` instant tasks and returns the start time of each (undefined until started). */
export function instantTasks(clock: ManualClock, scheduler: Scheduler, count: number, cost = 1) {
  const starts: (number | undefined)[] = Array.from({ length: count }, () => undefined);
  const done = starts.map((_, i) =>
    scheduler.schedule(
      async () => {
        starts[i] = clock.now();
        return i;
      },
      { cost },
    ),
  );
  return { starts, done };
}

export const started = (starts: readonly (number | undefined)[]) =>
  starts.filter((s) => s !== undefined).length;
