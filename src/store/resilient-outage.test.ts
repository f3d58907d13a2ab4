import { describe, expect, it } from 'vitest';
import { createFlakyStore, perHour, setup, T0, TIMEOUT } from '../../test/support/resilient.js';
import { createManualClock } from '../core/clock.js';
import { ConfigError, StoreError } from '../core/errors.js';
import { createLimiter } from '../limiter.js';
import { createMemoryStore } from './memory/memory-store.js';
import { createResilientStore } from './resilient.js';

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
