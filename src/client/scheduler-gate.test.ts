import { describe, expect, it } from 'vitest';
import { advance, flush, instantTasks, manual, manualTask, started } from '../../test/support/scheduler.js';
import { ConfigError } from '../core/errors.js';
import { tokenBucket } from '../core/limits.js';
import { createScheduler, type SchedulerOptions } from './scheduler.js';

describe('createScheduler: gate, priorities, stats', () => {
  it('closeGate holds every queued task until the time, then resumes', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 10, burst: 2 })] });
    scheduler.closeGate(1000);
    scheduler.closeGate(500); // the gate only extends
    expect(scheduler.gateUntilMs()).toBe(1000);
    const { starts } = instantTasks(clock, scheduler, 3);
    await advance(clock, 999);
    expect(started(starts)).toBe(0);
    await advance(clock, 1);
    expect(starts).toEqual([1000, 1000, undefined]);
    await advance(clock, 100);
    expect(starts).toEqual([1000, 1000, 1100]);
  });

  it('closing the gate while a limit wait is pending moves the wake-up to the gate', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 10, burst: 1 })] });
    const { starts } = instantTasks(clock, scheduler, 2);
    scheduler.closeGate(300);
    await advance(clock, 100);
    expect(started(starts)).toBe(1);
    await advance(clock, 200);
    expect(starts).toEqual([0, 300]);
    expect(clock.pending()).toBe(0);
  });

  it('starts higher priorities first, first in first out within a priority', async () => {
    const { clock, scheduler } = manual({ concurrency: 1 });
    const order: string[] = [];
    const blocker = manualTask(clock);
    const all = [scheduler.schedule(blocker.run)];
    for (const [name, priority] of [
      ['a', 0],
      ['b', 5],
      ['c', 5],
      ['d', 2],
      ['e', -1],
    ] as const) {
      all.push(scheduler.schedule(async () => void order.push(name), { priority }));
    }
    blocker.finish();
    await Promise.all(all);
    expect(order).toEqual(['b', 'c', 'd', 'a', 'e']);
  });

  it('a higher priority task overtakes a blocked head', async () => {
    const { clock, scheduler } = manual({ limits: [tokenBucket({ rate: 1, burst: 2 })] });
    instantTasks(clock, scheduler, 1);
    const big = scheduler.schedule(async () => clock.now(), { cost: 2 });
    const urgent = scheduler.schedule(async () => clock.now(), { priority: 1 });
    expect(await urgent).toBe(0);
    await advance(clock, 2000);
    expect(await big).toBe(2000);
  });

  it('stats count starts, outcomes, peak concurrency and queue waits', async () => {
    const { clock, scheduler } = manual({ concurrency: 2, limits: [tokenBucket({ rate: 10, burst: 10 })] });
    const tasks = [1, 2, 3].map(() => manualTask(clock));
    const results = tasks.map((task) => scheduler.schedule(task.run).catch(() => 'failed'));
    await advance(clock, 250);
    tasks[0]!.finish();
    await flush();
    tasks[1]!.fail(new Error('x'));
    tasks[2]!.finish();
    await Promise.all(results);
    expect(scheduler.stats()).toEqual({
      queued: 0,
      running: 0,
      peakRunning: 2,
      started: 3,
      completed: 2,
      failed: 1,
      shed: { full: 0, timeout: 0, aborted: 0, oversized: 0, cleared: 0 },
      queueWaitTotalMs: 250,
      queueWaitMaxMs: 250,
      averageRunning: 2, // two running from 0 to 250 ms, then all three end at 250 ms
    });
  });

  it('rejects invalid options with ConfigError naming the option', () => {
    expect(() => createScheduler({ concurrency: 0 })).toThrow(ConfigError);
    expect(() => createScheduler({ maxQueue: 1.5 })).toThrow(/maxQueue/);
    expect(() => createScheduler({ maxWait: -1 })).toThrow(/maxWait/);
    expect(() => createScheduler({ bogus: 1 } as SchedulerOptions)).toThrow(ConfigError);
    const { scheduler } = manual();
    expect(() => scheduler.setConcurrency(-1)).toThrow(/concurrency/);
    expect(() => scheduler.schedule(async () => 1, { cost: -1 })).toThrow(/cost/);
    expect(() => scheduler.schedule(async () => 1, { priority: Number.NaN })).toThrow(/priority/);
  });
});
