import { describe, expect, it } from 'vitest';
import { manual } from '../../test/support/scheduler.js';
import type { ManualClock } from '../core/clock.js';
import { QueueTimeoutError } from './scheduler.js';

const flush = async (rounds = 5) => {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
};
const advance = async (clock: ManualClock, ms: number) => {
  clock.advance(ms);
  await flush();
};

/** A task the test finishes by hand; records whether it ran and the signal it was given. */
function heldTask() {
  let finish!: (value: string) => void;
  const done = new Promise<string>((resolve) => {
    finish = resolve;
  });
  const record: { signal?: AbortSignal } = {};
  const run = (signal: AbortSignal) => {
    record.signal = signal;
    return done;
  };
  return { run, finish, record };
}

/** Follows a promise without awaiting it: whether it settled, and with what. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

describe('scheduler.clear', () => {
  it('rejects every queued task with the reason, returns the count and leaves running tasks alone', async () => {
    const { scheduler } = manual({ concurrency: 1 });
    const running = heldTask();
    const first = scheduler.schedule(running.run);
    let ran = 0;
    const controller = new AbortController();
    const queued = [0, 1, 2].map((i) =>
      track(
        scheduler.schedule(
          async () => {
            ran++;
            return i;
          },
          { priority: i, signal: controller.signal },
        ),
      ),
    );
    expect(scheduler.stats()).toMatchObject({ running: 1, queued: 3 });
    const reason = new Error('gone');
    expect(scheduler.clear(reason)).toBe(3);
    await flush();
    for (const state of queued) {
      expect(state.settled).toBe(true);
      expect(state.error).toBe(reason);
    }
    expect(ran).toBe(0);
    expect(scheduler.stats()).toMatchObject({
      running: 1,
      queued: 0,
      started: 1,
      shed: { full: 0, timeout: 0, aborted: 0, oversized: 0, cleared: 3 },
    });
    // A cleared task's signal aborting later changes nothing.
    controller.abort();
    expect(scheduler.stats().shed).toMatchObject({ aborted: 0, cleared: 3 });
    expect(running.record.signal?.aborted).toBe(false);
    running.finish('kept');
    expect(await first).toBe('kept');
    expect(scheduler.clear(reason)).toBe(0);
    expect(await scheduler.schedule(async () => 'after')).toBe('after');
    expect(scheduler.stats()).toMatchObject({ completed: 2, shed: { cleared: 3 } });
  });
});

describe('schedule(task, { maxWait })', () => {
  it('sheds only that task with QueueTimeoutError; others without a maxWait keep waiting', async () => {
    const { clock, scheduler } = manual({ concurrency: 1 });
    const running = heldTask();
    const first = scheduler.schedule(running.run);
    const short = track(scheduler.schedule(async () => 'short', { maxWait: '1s' }));
    const patient = track(scheduler.schedule(async () => 'patient'));
    await advance(clock, 999);
    expect(short.settled).toBe(false);
    await advance(clock, 1);
    expect(short.error).toBeInstanceOf(QueueTimeoutError);
    expect(short.error).toMatchObject({ maxWaitMs: 1000, waitedMs: 1000 });
    expect(scheduler.stats()).toMatchObject({ queued: 1, shed: { timeout: 1 } });
    await advance(clock, 60_000);
    expect(patient.settled).toBe(false);
    running.finish('done');
    expect(await first).toBe('done');
    await flush();
    expect(patient.value).toBe('patient');
    expect(scheduler.stats()).toMatchObject({ completed: 2, shed: { timeout: 1 } });
  });

  it("the shorter of the scheduler's maxWait and the task's wins", async () => {
    const { clock, scheduler } = manual({ concurrency: 1, maxWait: '2s' });
    const running = heldTask();
    const first = scheduler.schedule(running.run);
    const longer = track(scheduler.schedule(async () => 'longer', { maxWait: '5s' }));
    const shorter = track(scheduler.schedule(async () => 'shorter', { maxWait: 500 }));
    const plain = track(scheduler.schedule(async () => 'plain'));
    await advance(clock, 499);
    expect(shorter.settled).toBe(false);
    await advance(clock, 1);
    expect(shorter.error).toBeInstanceOf(QueueTimeoutError);
    expect(shorter.error).toMatchObject({ maxWaitMs: 500 });
    await advance(clock, 1499);
    expect([longer.settled, plain.settled]).toEqual([false, false]);
    await advance(clock, 1);
    for (const state of [longer, plain]) {
      expect(state.error).toBeInstanceOf(QueueTimeoutError);
      expect(state.error).toMatchObject({ maxWaitMs: 2000, waitedMs: 2000 });
    }
    expect(scheduler.stats()).toMatchObject({ queued: 0, shed: { timeout: 3 } });
    running.finish('done');
    expect(await first).toBe('done');
  });

  it('refuses a malformed maxWait, naming the option', () => {
    const { scheduler } = manual();
    expect(() => scheduler.schedule(async () => 1, { maxWait: 'soon' })).toThrow(/`maxWait`/);
  });
});
