import { describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../core/clock.js';
import { ConfigError, StoreError } from '../core/errors.js';
import { fixedWindow, tokenBucket } from '../core/limits.js';
import { createLimiter } from '../limiter.js';
import { createMemoryStore } from './memory/memory-store.js';
import { createResilientStore, type ResilientStoreOptions } from './resilient.js';
import type { Store } from './types.js';

const T0 = 1_700_000_000_000;
const TIMEOUT = 20;
const _perSecond = tokenBucket({ rate: 10, burst: 5 });
const perHour = fixedWindow({ limit: 2, window: '1h' });

type Behaviour = 'ok' | 'reject' | 'hang';

/** A memory store whose calls can be made to reject or to hang forever; counts the calls that reach it. */
function createFlakyStore(clock: ManualClock) {
  const memory = createMemoryStore({ clock: clock.now });
  const state = { behaviour: 'ok' as Behaviour, calls: 0 };
  const gate =
    <A extends unknown[], R>(method: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      state.calls++;
      if (state.behaviour === 'reject') return Promise.reject(new Error('connect ECONNREFUSED'));
      if (state.behaviour === 'hang') return new Promise<R>(() => {});
      return method(...args);
    };
  const store: Store = {
    consume: gate(memory.consume),
    peek: gate(memory.peek),
    reset: gate(memory.reset),
    acquire: gate(memory.acquire),
    release: gate(memory.release),
    renew: gate(memory.renew),
  };
  return { store, memory, state };
}

function setup(options: ResilientStoreOptions = {}) {
  const clock = createManualClock(T0);
  const flaky = createFlakyStore(clock);
  const errors: [unknown, string][] = [];
  const store = createResilientStore(flaky.store, {
    timeout: TIMEOUT,
    clock: clock.now,
    // One failure takes the store down, so that every test sees the breaker at work at once.
    failureThreshold: 1,
    onError: (error, reason) => errors.push([error, reason]),
    ...options,
  });
  return { clock, flaky, store, errors };
}

/** Resolves with the value and the real time it took to settle. */
async function _timed<T>(promise: Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await promise;
  return [value, performance.now() - start];
}

describe("resilient store: the caller's errors", () => {
  const bad = [{ limit: perHour, key: 'k', cost: -1 }];

  it('rethrows a ConfigError from the store without tripping the breaker', async () => {
    const { store, errors } = setup({ failureMode: 'open' });
    await expect(store.consume(bad)).rejects.toBeInstanceOf(ConfigError);
    await expect(store.acquire('c', 0, 1000)).rejects.toThrow(/`max`/);
    expect(store.stats()).toMatchObject({ state: 'up', errors: 0, timeouts: 0 });
    expect(errors).toEqual([]);
  });

  it.each(['open', 'closed', 'fallback'] as const)(
    '%s: rejects invalid input while down too, and counts no degraded decision',
    async (failureMode) => {
      const { store, flaky } = setup({ failureMode });
      flaky.state.behaviour = 'reject';
      await store.consume([{ limit: perHour, key: 'k' }]);
      await expect(store.consume(bad)).rejects.toThrow(/Expected `cost`/);
      await expect(store.peek(bad)).rejects.toBeInstanceOf(ConfigError);
      await expect(store.acquire('c', 1, -5)).rejects.toThrow(/`ttlMs`/);
      await expect(store.release(null as never)).rejects.toThrow(/`lease`/);
      expect(store.stats().degraded[failureMode]).toBe(1);
    },
  );

  it('a ConfigError answered to a probe leaves the store down and lets the next call probe', async () => {
    const { store, flaky, clock } = setup({ failureMode: 'open', retryInterval: '1s' });
    flaky.state.behaviour = 'reject';
    await store.consume([{ limit: perHour, key: 'k' }]);
    clock.advance(1000);
    flaky.state.behaviour = 'ok';
    await expect(store.consume(bad)).rejects.toBeInstanceOf(ConfigError);
    expect(store.stats()).toMatchObject({ state: 'down', probes: 1, errors: 1 });
    expect((await store.consume([{ limit: perHour, key: 'k' }])).reason).toBeUndefined();
    expect(store.stats()).toMatchObject({ state: 'up', probes: 2, recoveries: 1 });
  });
});

describe('resilient store: leases and reset across an outage', () => {
  it('releases and renews fallback leases on the fallback store after recovery', async () => {
    const clock = createManualClock(T0);
    const flaky = createFlakyStore(clock);
    const local = createMemoryStore({ clock: clock.now });
    const store = createResilientStore(flaky.store, {
      fallback: local,
      clock: clock.now,
      timeout: TIMEOUT,
      failureThreshold: 1,
    });
    flaky.state.behaviour = 'reject';
    const held = await store.acquire('jobs', 1, 60_000);
    if (!held.acquired) throw new Error('unreachable');
    expect(local.stats().leaseKeys).toBe(1);

    flaky.state.behaviour = 'ok';
    clock.advance(1000);
    expect((await store.acquire('other', 1, 1000)).reason).toBeUndefined(); // recovered
    const calls = flaky.state.calls;
    const renewed = await store.renew(held.lease, 120_000);
    expect(renewed).toEqual({ ...held.lease, expiresAtMs: T0 + 1000 + 120_000 });
    expect(await store.release(renewed!)).toBe(true);
    expect(await store.release(renewed!)).toBe(false);
    expect(flaky.state.calls).toBe(calls); // the main store was not asked
    expect(local.stats().leaseKeys).toBe(0);
    // The main store never saw the fallback lease; its own lease on the same key is unaffected.
    expect(await store.acquire('jobs', 1, 1000)).toMatchObject({ acquired: true, current: 1 });
  });

  it('a main-store lease cannot be given back during an outage: release false, renew undefined', async () => {
    const { store, flaky, clock } = setup({ failureMode: 'closed' });
    const held = await store.acquire('jobs', 1, 5000);
    if (!held.acquired) throw new Error('unreachable');
    flaky.state.behaviour = 'reject';
    expect(await store.release(held.lease)).toBe(false);
    clock.advance(1000);
    expect(await store.renew(held.lease, 5000)).toBeUndefined();
    expect(store.stats()).toMatchObject({ errors: 2, degraded: { closed: 0 } });
    // Still held on the store, until it expires there.
    expect(flaky.memory.acquireSync('jobs', 1, 5000).acquired).toBe(false);
    clock.advance(4000);
    expect(flaky.memory.acquireSync('jobs', 1, 5000).acquired).toBe(true);
  });

  it('reset rejects with the StoreError during an outage, and resets the fallback store', async () => {
    const { store, flaky } = setup({ failureMode: 'fallback' });
    flaky.state.behaviour = 'reject';
    const checks = [{ limit: perHour, key: 'k' }];
    await store.consume(checks);
    await store.consume(checks);
    expect((await store.consume(checks)).allowed).toBe(false);
    const error = await store.reset('k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('ERR_SLUICE_STORE_DOWN');
    expect((error as StoreError).message).toMatch(/tried again in 1000 ms/);
    expect((error as StoreError).cause).toBeInstanceOf(Error);
    expect(await store.consume(checks)).toMatchObject({ allowed: true, reason: 'fallback' });
  });

  it('reset wraps the error of the failing call in a StoreError', async () => {
    const { store, flaky } = setup({ failureMode: 'open' });
    flaky.state.behaviour = 'reject';
    await expect(store.reset('k')).rejects.toMatchObject({
      name: 'StoreError',
      code: 'ERR_SLUICE_STORE',
      message: 'The store failed: connect ECONNREFUSED',
    });
  });
});

describe('resilient store: under a limiter', () => {
  it('degrades a limiter to the fallback and back', async () => {
    const { store, flaky, clock } = setup();
    const limiter = createLimiter({ limits: perHour, store });
    expect(await limiter.consume('user')).toMatchObject({ allowed: true, remaining: 1 });
    flaky.state.behaviour = 'hang';
    expect(await limiter.consume('user')).toMatchObject({ allowed: true, remaining: 1, reason: 'fallback' });
    flaky.state.behaviour = 'ok';
    clock.advance(1000);
    const outcome = await limiter.consume('user');
    expect(outcome).toMatchObject({ allowed: true, remaining: 0 });
    expect(outcome.reason).toBeUndefined();
  });
});
