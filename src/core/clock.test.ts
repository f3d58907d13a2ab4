import { describe, expect, it } from 'vitest';
import { createManualClock, systemSleep } from './clock.js';

describe('createManualClock', () => {
  it('stands still until advanced', () => {
    const clock = createManualClock(1000);
    expect(clock.now()).toBe(1000);
    clock.advance(250);
    expect(clock.now()).toBe(1250);
    clock.set(10);
    expect(clock.now()).toBe(10);
  });

  it('wakes sleepers in deadline order when their time comes', async () => {
    const clock = createManualClock(0);
    const woke: number[] = [];
    const a = clock.sleep(200).then(() => woke.push(200));
    const b = clock.sleep(100).then(() => woke.push(100));
    clock.advance(99);
    await Promise.resolve();
    expect(woke).toEqual([]);
    expect(clock.pending()).toBe(2);
    clock.advance(150);
    await Promise.all([a, b]);
    expect(woke).toEqual([100, 200]);
    expect(clock.pending()).toBe(0);
  });

  it('rejects a sleep when its signal aborts, and forgets the sleeper', async () => {
    const clock = createManualClock(0);
    const controller = new AbortController();
    const sleeping = clock.sleep(1000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
    expect(clock.pending()).toBe(0);
  });
});

describe('systemSleep', () => {
  it('waits on the real clock', async () => {
    const start = Date.now();
    await systemSleep(30);
    expect(Date.now() - start).toBeGreaterThanOrEqual(29);
  });

  it('rejects at once on an aborted signal', async () => {
    await expect(systemSleep(10_000, AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
  });
});
