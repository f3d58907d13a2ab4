import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../core/clock.js';
import { ConfigError, RateLimitedError } from '../core/errors.js';
import { fixedWindow, tokenBucket } from '../core/limits.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import type { Store } from '../store/types.js';
import { createScheduler, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { LEASE_POLL_MS } from './scheduler-shared.js';

/** Schedulers on one manual clock sharing one memory store (the budget); sleeps wake as the clock moves. */
function budgetOf(count: number, options: SchedulerOptions = {}, key = 'b') {
  const clock = createManualClock(0);
  const store = createMemoryStore({ clock: clock.now });
  const schedulers = Array.from({ length: count }, () =>
    createScheduler({ clock: clock.now, sleep: clock.sleep, budget: { store, key }, ...options }),
  );
  return { clock, store, schedulers };
}

const flush = async (rounds = 5) => {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};
const advance = async (clock: ManualClock, ms: number) => {
  clock.advance(ms);
  await flush();
};

/** Schedules `count` instant tasks on `scheduler`; returns their start times (undefined until started). */
function instant(clock: ManualClock, scheduler: Scheduler, count: number) {
  const starts: (number | undefined)[] = Array.from({ length: count }, () => undefined);
  const done = starts.map((_, i) =>
    scheduler.schedule(async () => {
      starts[i] = clock.now();
    }),
  );
  return { starts, done };
}
const count = (starts: readonly (number | undefined)[]) => starts.filter((s) => s !== undefined).length;

describe('createScheduler with a shared budget', () => {
  it('two schedulers draw from one token bucket: together no more than its burst, then its rate', async () => {
    const { clock, schedulers } = budgetOf(2, { limits: [tokenBucket({ rate: 10, per: '1s', burst: 5 })] });
    const a = instant(clock, schedulers[0]!, 10);
    const b = instant(clock, schedulers[1]!, 10);
    await flush(20);
    expect(count(a.starts) + count(b.starts)).toBe(5);
    await advance(clock, 100);
    await flush(20);
    expect(count(a.starts) + count(b.starts)).toBe(6);
    for (let t = 0; t < 15; t++) await advance(clock, 100);
    await Promise.all([...a.done, ...b.done]);
    // 20 tasks: 5 at once, then one per 100 ms.
    const all = [...a.starts, ...b.starts].map(Number).sort((x, y) => x - y);
    expect(all[19]).toBe(1500);
  });

  it('a task admitted at its cost starts, even when a costlier task of higher priority arrived meanwhile', async () => {
    const { clock, schedulers } = budgetOf(1, { limits: [tokenBucket({ rate: 1, per: '1s', burst: 10 })] });
    const scheduler = schedulers[0]!;
    const started: string[] = [];
    const cheap = scheduler.schedule(async () => void started.push('cheap'));
    const costly = scheduler.schedule(async () => void started.push('costly'), { cost: 10, priority: 5 });
    await flush(20);
    // Both together would take 11 units from a bucket of 10.
    expect(started).toEqual(['cheap']);
    await advance(clock, 1000);
    await flush(20);
    expect(started).toEqual(['cheap', 'costly']);
    await Promise.all([cheap, costly]);
  });

  it('separate keys are separate budgets', async () => {
    const clock = createManualClock(0);
    const store = createMemoryStore({ clock: clock.now });
    const limits = [fixedWindow({ limit: 3, window: '1s' })];
    const make = (key: string) =>
      createScheduler({ clock: clock.now, sleep: clock.sleep, limits, budget: { store, key } });
    const a = instant(clock, make('x'), 5);
    const b = instant(clock, make('y'), 5);
    await flush(20);
    expect([count(a.starts), count(b.starts)]).toEqual([3, 3]);
  });

  it('concurrency is shared through leases: at most `concurrency` running across schedulers', async () => {
    const { clock, schedulers } = budgetOf(3, { concurrency: 2 });
    let running = 0;
    let peak = 0;
    const releases: Array<() => void> = [];
    const task = () =>
      new Promise<void>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        releases.push(() => {
          running--;
          resolve();
        });
      });
    const all = schedulers.flatMap((s) => [s.schedule(task), s.schedule(task)]);
    await flush(20);
    expect(running).toBe(2);
    // Finishing one lets one more start, on whichever scheduler polls first (every LEASE_POLL_MS).
    releases.shift()!();
    await flush(10);
    await advance(clock, LEASE_POLL_MS);
    await flush(20);
    expect(running).toBe(2);
    while (releases.length > 0) {
      releases.shift()!();
      await flush(10);
      await advance(clock, LEASE_POLL_MS);
      await flush(20);
    }
    await Promise.all(all);
    expect(peak).toBe(2);
  });

  /**
   * Two schedulers sharing concurrency 1 through `store` (leases of 300 ms), each running a task of 1 s;
   * resolves with the most tasks that ran at once.
   */
  async function peakOfTwoLongTasks(clock: ManualClock, store: Store, key: string): Promise<number> {
    const make = () =>
      createScheduler({
        clock: clock.now,
        sleep: clock.sleep,
        concurrency: 1,
        budget: { store, key, leaseTtl: 300 },
      });
    let running = 0;
    let peak = 0;
    const long = () =>
      new Promise<void>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        clock.sleep(1000).then(() => {
          running--;
          resolve();
        });
      });
    const done = [make().schedule(long), make().schedule(long)];
    for (let t = 0; t < 100; t++) await advance(clock, 25);
    await Promise.all(done);
    return peak;
  }

  it('a task running longer than the lease ttl keeps its slot (the lease is renewed)', async () => {
    const clock = createManualClock(0);
    const store = createMemoryStore({ clock: clock.now });
    // Without renewal the first lease expires at 300 ms and the second task starts.
    expect(await peakOfTwoLongTasks(clock, store, 'lease')).toBe(1);
    expect(await store.acquire('lease', 1, 1000)).toMatchObject({ acquired: true }); // and both were given back
  });

  it('a renewal that fails once is tried again: the slot stays held', async () => {
    const clock = createManualClock(0);
    const memory = createMemoryStore({ clock: clock.now });
    let failures = 1;
    const store: Store = {
      ...memory,
      renew: (lease, ttlMs, nowMs) =>
        failures-- > 0 ? Promise.reject(new Error('ECONNRESET')) : memory.renew(lease, ttlMs, nowMs),
    };
    expect(await peakOfTwoLongTasks(clock, store, 'blip')).toBe(1);
  });

  it("one scheduler's gate holds the others (the store's gate)", async () => {
    const { clock, schedulers } = budgetOf(2);
    schedulers[0]!.closeGate(1000);
    await flush();
    const b = instant(clock, schedulers[1]!, 1);
    await flush(20);
    expect(b.starts).toEqual([undefined]);
    await advance(clock, 999);
    await flush(20);
    expect(b.starts).toEqual([undefined]);
    await advance(clock, 1);
    await flush(20);
    expect(b.starts).toEqual([1000]);
  });

  it('a cost no limit can ever allow is shed as oversized', async () => {
    const { schedulers } = budgetOf(1, { limits: [tokenBucket({ rate: 1, burst: 2 })] });
    await expect(schedulers[0]!.schedule(async () => 1, { cost: 3 })).rejects.toBeInstanceOf(
      RateLimitedError,
    );
    expect(schedulers[0]!.stats().shed.oversized).toBe(1);
  });

  it('a store that throws does not lose the task: it is tried again later', async () => {
    const clock = createManualClock(0);
    const memory = createMemoryStore({ clock: clock.now });
    let down = true;
    const store: Store = {
      ...memory,
      consume: (checks, nowMs) =>
        down ? Promise.reject(new Error('ECONNREFUSED')) : memory.consume(checks, nowMs),
    };
    const scheduler = createScheduler({
      clock: clock.now,
      sleep: clock.sleep,
      limits: [tokenBucket({ rate: 10 })],
      budget: { store, key: 'k' },
    });
    const started = instant(clock, scheduler, 1);
    await flush(20);
    expect(started.starts).toEqual([undefined]);
    down = false;
    await advance(clock, 4 * LEASE_POLL_MS);
    await flush(20);
    expect(started.starts).toEqual([4 * LEASE_POLL_MS]);
  });

  it('property: with any number of schedulers and any arrival times, starts never exceed the bucket', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.tuple(fc.nat(3), fc.integer({ min: 0, max: 300 })), { minLength: 1, maxLength: 30 }),
        async (n, arrivals) => {
          const { clock, schedulers } = budgetOf(n, {
            limits: [tokenBucket({ rate: 10, per: '1s', burst: 3 })],
          });
          const starts: number[] = [];
          const done: Promise<unknown>[] = [];
          for (const [who, delay] of arrivals) {
            await advance(clock, delay);
            done.push(schedulers[who % n]!.schedule(async () => void starts.push(clock.now())));
          }
          for (let t = 0; t < 40 && starts.length < arrivals.length; t++) await advance(clock, 100);
          await Promise.all(done);
          // A token bucket of burst 3 refilling 1 per 100 ms: in any span of d ms, at most 3 + ⌊d / 100⌋ starts.
          for (let i = 0; i < starts.length; i++)
            for (let j = i; j < starts.length; j++)
              expect(j - i + 1).toBeLessThanOrEqual(3 + Math.floor((starts[j]! - starts[i]!) / 100));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('validates the budget option, naming the path', () => {
    expect(() => createScheduler({ budget: { store: {} as Store, key: 'k' } })).toThrow(/budget\.store/);
    expect(() => createScheduler({ budget: { store: createMemoryStore(), key: '' } })).toThrow(/budget\.key/);
    expect(() => createScheduler({ budget: { store: createMemoryStore(), key: 'k', leaseTtl: -1 } })).toThrow(
      ConfigError,
    );
  });
});
