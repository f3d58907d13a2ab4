import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { advance, flush, instantTasks, manual, manualTask, started } from '../../test/support/scheduler.js';
import { RateLimitedError } from '../core/errors.js';
import { fixedWindow, tokenBucket } from '../core/limits.js';
import { createScheduler, QueueFullError, QueueTimeoutError } from './scheduler.js';

describe('createScheduler: limits', () => {
  it('paces a token bucket exactly: 10/s burst 5 starts 5 at once, then one every 100 ms', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 10, burst: 5 })] });
    const { starts, done } = instantTasks(clock, scheduler, 8);
    await flush();
    expect(started(starts)).toBe(5);
    await advance(clock, 99);
    expect(started(starts)).toBe(5);
    await advance(clock, 1);
    expect(started(starts)).toBe(6);
    await advance(clock, 99);
    expect(started(starts)).toBe(6);
    await advance(clock, 1);
    await advance(clock, 100);
    expect(await Promise.all(done)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(starts).toEqual([0, 0, 0, 0, 0, 100, 200, 300]);
    expect(clock.pending()).toBe(0); // no heartbeat left behind
  });

  it('paces a fixed window: the rest waits for the next window', async () => {
    const { clock, scheduler } = manual({ limits: [fixedWindow({ limit: 3, window: '1s' })] });
    const { starts } = instantTasks(clock, scheduler, 5);
    await flush();
    expect(started(starts)).toBe(3);
    await advance(clock, 999);
    expect(started(starts)).toBe(3);
    await advance(clock, 1);
    expect(starts).toEqual([0, 0, 0, 1000, 1000]);
  });

  it('waits until every limit allows, and a denial consumes from none', async () => {
    // Alone, the window would give [0,0,1000,1000,2000,2000] and the bucket [0,0,0,1000,2000,3000].
    const limits = [tokenBucket({ rate: 1, burst: 3 }), fixedWindow({ limit: 2, window: '1s' })];
    const { clock, scheduler } = manual({ limits });
    const { starts } = instantTasks(clock, scheduler, 6);
    for (let t = 0; t < 3000; t += 100) await advance(clock, 100);
    expect(starts).toEqual([0, 0, 1000, 1000, 2000, 3000]);
  });

  it('a task that cannot start blocks those behind it, even smaller ones', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 1, burst: 2 })] });
    const small = instantTasks(clock, scheduler, 1, 1);
    const big = instantTasks(clock, scheduler, 1, 2);
    const after = instantTasks(clock, scheduler, 1, 1);
    await flush();
    expect([small.starts[0], big.starts[0], after.starts[0]]).toEqual([0, undefined, undefined]);
    await advance(clock, 1000);
    expect([big.starts[0], after.starts[0]]).toEqual([1000, undefined]);
    await advance(clock, 1000);
    expect(after.starts[0]).toBe(2000);
  });

  it('rejects a cost no limit can ever allow with RateLimitedError, without blocking the queue', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 1, burst: 2 })] });
    const tooBig = scheduler.schedule(async () => 'never', { cost: 3 });
    const { starts } = instantTasks(clock, scheduler, 1);
    await expect(tooBig).rejects.toBeInstanceOf(RateLimitedError);
    await expect(tooBig).rejects.toMatchObject({ retryAfterMs: Number.POSITIVE_INFINITY });
    expect(starts).toEqual([0]);
    expect(scheduler.stats().shed.oversized).toBe(1);
  });

  it('setLimits re-evaluates the queue at once', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 1, burst: 1 })] });
    const { starts } = instantTasks(clock, scheduler, 3);
    await flush();
    expect(started(starts)).toBe(1);
    scheduler.setLimits([tokenBucket({ rate: 10, burst: 10 })]);
    await flush();
    expect(starts).toEqual([0, 0, 0]);
  });

  it('runs with the default sleep (a real timer) and waits the limit out', async () => {
    const scheduler = createScheduler({ limits: [tokenBucket({ rate: 1, per: '20ms', burst: 1 })] });
    const begin = Date.now();
    const times = await Promise.all([1, 2].map(() => scheduler.schedule(async () => Date.now())));
    expect(times[1]! - begin).toBeGreaterThanOrEqual(19);
  });
});

describe('createScheduler: concurrency', () => {
  it('never exceeds the cap, completes every task and leaks no slot (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(
          fc.record({
            duration: fc.integer({ min: 0, max: 5 }),
            fails: fc.boolean(),
            abortAt: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 15 },
        ),
        async (concurrency, specs) => {
          const { clock, scheduler } = manual({ concurrency });
          let running = 0;
          let most = 0;
          const all = Promise.allSettled(
            specs.map((spec, i) => {
              const controller = new AbortController();
              if (spec.abortAt !== undefined) void clock.sleep(spec.abortAt).then(() => controller.abort());
              return scheduler.schedule(
                async (signal) => {
                  running++;
                  most = Math.max(most, running);
                  expect(running).toBeLessThanOrEqual(concurrency);
                  try {
                    await clock.sleep(spec.duration, signal);
                    if (spec.fails) throw new Error('boom');
                    return i;
                  } finally {
                    running--;
                  }
                },
                { signal: controller.signal },
              );
            }),
          );
          let settled = false;
          void all.then(() => {
            settled = true;
          });
          for (let t = 0; t < 200 && !settled; t++) await advance(clock, 1);
          expect(settled).toBe(true);
          const stats = scheduler.stats();
          expect(most).toBeLessThanOrEqual(concurrency);
          expect(stats.peakRunning).toBe(most);
          expect(stats).toMatchObject({ running: 0, queued: 0 });
          expect(stats.started + stats.shed.aborted).toBe(specs.length);
          expect(stats.completed + stats.failed).toBe(stats.started);
          const fulfilled = (await all).filter((r) => r.status === 'fulfilled').length;
          expect(fulfilled).toBe(stats.completed);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('setConcurrency raising starts waiting tasks at once', async () => {
    const { clock, scheduler } = manual({ concurrency: 1 });
    const tasks = [1, 2, 3].map(() => manualTask(clock));
    for (const task of tasks) void scheduler.schedule(task.run);
    expect(scheduler.stats()).toMatchObject({ running: 1, queued: 2 });
    scheduler.setConcurrency(3);
    expect(scheduler.stats()).toMatchObject({ running: 3, queued: 0 });
  });

  it('setConcurrency lowering lets running tasks finish and starts none until under the cap', async () => {
    const { clock, scheduler } = manual({ concurrency: 3 });
    const tasks = [1, 2, 3, 4].map(() => manualTask(clock));
    for (const task of tasks) scheduler.schedule(task.run).catch(() => {});
    scheduler.setConcurrency(1);
    expect(scheduler.stats()).toMatchObject({ running: 3, queued: 1 });
    tasks[0]!.finish();
    await flush();
    expect(scheduler.stats()).toMatchObject({ running: 2, queued: 1 });
    tasks[1]!.finish();
    tasks[2]!.fail(new Error('x'));
    await flush();
    expect(scheduler.stats()).toMatchObject({ running: 1, queued: 0, completed: 2, failed: 1 });
    expect(tasks[3]!.record.startedAt).toBe(0);
  });

  it('releases the slot when a task throws synchronously', async () => {
    const { clock, scheduler } = manual({ concurrency: 1 });
    const throwing = scheduler.schedule(() => {
      throw new Error('sync');
    });
    const next = manualTask<string>(clock);
    const result = scheduler.schedule(next.run);
    await expect(throwing).rejects.toThrow('sync');
    next.finish('ok');
    expect(await result).toBe('ok');
    expect(scheduler.stats()).toMatchObject({ running: 0, failed: 1, completed: 1 });
  });
});

describe('createScheduler: shedding', () => {
  it('rejects at once with QueueFullError when maxQueue tasks already wait', async () => {
    const { clock, scheduler } = manual({ concurrency: 1, maxQueue: 2 });
    const tasks = [1, 2, 3].map(() => manualTask(clock));
    const results = tasks.map((task) => scheduler.schedule(task.run));
    const rejected = scheduler.schedule(async () => 'never');
    await expect(rejected).rejects.toBeInstanceOf(QueueFullError);
    await expect(rejected).rejects.toMatchObject({ code: 'ERR_SLUICE_QUEUE_FULL', maxQueue: 2 });
    expect(scheduler.stats()).toMatchObject({ queued: 2, running: 1, shed: { full: 1 } });
    for (const task of tasks) task.finish();
    await Promise.all(results);
  });

  it('maxQueue 0 still runs a task that can start at once', async () => {
    const { scheduler } = manual({ maxQueue: 0 });
    expect(await scheduler.schedule(async () => 'ran')).toBe('ran');
  });

  it('sheds a task that waited longer than maxWait with QueueTimeoutError, consuming nothing', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 1, burst: 1 })], maxWait: 500 });
    const first = instantTasks(clock, scheduler, 1);
    const late = scheduler.schedule(async () => 'never');
    late.catch(() => {});
    await advance(clock, 499);
    expect(scheduler.stats().queued).toBe(1);
    await advance(clock, 1);
    await expect(late).rejects.toBeInstanceOf(QueueTimeoutError);
    await expect(late).rejects.toMatchObject({ code: 'ERR_SLUICE_QUEUE_TIMEOUT', maxWaitMs: 500 });
    await advance(clock, 500);
    // The shed task took no token: the next one starts at 1000, the first moment the bucket refills.
    const next = instantTasks(clock, scheduler, 1);
    await flush();
    expect([first.starts[0], next.starts[0]]).toEqual([0, 1000]);
    expect(scheduler.stats()).toMatchObject({ started: 2, shed: { timeout: 1 }, queued: 0 });
  });

  it('starts a task whose turn comes exactly at maxWait', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 1, burst: 1 })], maxWait: '1s' });
    const { starts, done } = instantTasks(clock, scheduler, 2);
    await advance(clock, 1000);
    await Promise.all(done);
    expect(starts).toEqual([0, 1000]);
  });

  it('a timeout behind a blocked head removes only that task', async () => {
    const { clock, scheduler } = manual({ concurrency: 1, maxWait: 100 });
    const running = manualTask(clock);
    const result = scheduler.schedule(running.run);
    const waiting = scheduler.schedule(async () => 'never');
    waiting.catch(() => {});
    await advance(clock, 100);
    await expect(waiting).rejects.toBeInstanceOf(QueueTimeoutError);
    running.finish();
    await result;
    expect(scheduler.stats()).toMatchObject({ running: 0, queued: 0, completed: 1 });
  });
});

describe('createScheduler: abort', () => {
  it('an abort while queued removes the task at once, takes no budget and leaves others unaffected', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 1, burst: 1 })] });
    const first = instantTasks(clock, scheduler, 1);
    const controller = new AbortController();
    let ran = false;
    const aborted = scheduler.schedule(
      async () => {
        ran = true;
      },
      { signal: controller.signal },
    );
    const after = instantTasks(clock, scheduler, 1);
    await advance(clock, 100);
    controller.abort();
    expect(scheduler.stats().queued).toBe(1);
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    await advance(clock, 900);
    expect([first.starts[0], after.starts[0]]).toEqual([0, 1000]);
    expect(ran).toBe(false);
    expect(scheduler.stats().shed.aborted).toBe(1);
  });

  it('rejects with the signal reason and never runs when the signal is already aborted', async () => {
    const { scheduler } = manual();
    const reason = new Error('cancelled');
    await expect(scheduler.schedule(async () => 'never', { signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
    expect(scheduler.stats()).toMatchObject({ started: 0, shed: { aborted: 1 } });
  });

  it('an abort while running aborts the task signal and releases the slot when it settles', async () => {
    const { clock, scheduler } = manual({ concurrency: 1 });
    const controller = new AbortController();
    let given: AbortSignal | undefined;
    const running = scheduler.schedule(
      (signal) => {
        given = signal;
        return clock.sleep(10_000, signal);
      },
      { signal: controller.signal },
    );
    const next = instantTasks(clock, scheduler, 1);
    await flush();
    expect(given?.aborted).toBe(false);
    controller.abort(new Error('stop'));
    expect(given?.aborted).toBe(true);
    await expect(running).rejects.toThrow('stop');
    await Promise.all(next.done);
    expect(next.starts).toEqual([0]);
    expect(scheduler.stats()).toMatchObject({ running: 0, failed: 1, completed: 1, shed: { aborted: 0 } });
  });
});
