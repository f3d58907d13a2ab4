import { describe, expect, it } from 'vitest';
import { perHour, setup, T0 } from '../../test/support/resilient.js';

describe('resilient store: circuit breaker', () => {
  const checks = [{ limit: perHour, key: 'k' }];

  it('by default, one failure is answered in degraded mode but only three in a row take the store down', async () => {
    const { flaky, store } = setup({ failureMode: 'open', failureThreshold: undefined as never });
    flaky.state.behaviour = 'reject';
    expect((await store.consume(checks)).reason).toBe('store-error');
    flaky.state.behaviour = 'ok';
    expect((await store.consume(checks)).reason).toBeUndefined(); // a success clears the count
    flaky.state.behaviour = 'reject';
    for (let i = 0; i < 2; i++) await store.consume(checks);
    expect(store.stats().state).toBe('up');
    const calls = flaky.state.calls;
    await store.consume(checks);
    expect(store.stats()).toMatchObject({ state: 'down', errors: 4 });
    await store.consume(checks);
    expect(flaky.state.calls).toBe(calls + 1); // down: the store is not called any more
  });

  it('an async onError that rejects is not an unhandled rejection', async () => {
    const { flaky, store } = setup({
      failureMode: 'open',
      onError: async () => Promise.reject(new Error('log sink down')),
    });
    flaky.state.behaviour = 'reject';
    let unhandled = 0;
    const count = () => unhandled++;
    process.on('unhandledRejection', count);
    try {
      expect((await store.consume(checks)).reason).toBe('store-error');
      await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      process.off('unhandledRejection', count);
    }
    expect(unhandled).toBe(0);
  });

  it('does not call the store while down, whatever the call', async () => {
    const { store, flaky, clock, errors } = setup({ failureMode: 'open', retryInterval: '1s' });
    flaky.state.behaviour = 'reject';
    await store.consume(checks);
    expect(flaky.state.calls).toBe(1);
    flaky.state.behaviour = 'ok'; // healed, but the breaker does not know yet
    for (let i = 0; i < 20; i++) {
      clock.advance(40);
      expect((await store.consume(checks)).reason).toBe('store-error');
      await store.peek(checks);
      await store.acquire('c', 1, 1000);
      expect(await store.release({ key: 'c', id: '1', expiresAtMs: T0 + 5000 })).toBe(false);
      expect(await store.renew({ key: 'c', id: '1', expiresAtMs: T0 + 5000 }, 1000)).toBeUndefined();
      await expect(store.reset('k')).rejects.toMatchObject({ code: 'ERR_SLUICE_STORE_DOWN' });
    }
    expect(flaky.state.calls).toBe(1);
    expect(errors).toHaveLength(1);
    expect(store.stats()).toMatchObject({ state: 'down', errors: 1, probes: 0, degraded: { open: 61 } });
  });

  it('lets exactly one probe through after retryInterval; a failed probe means another interval', async () => {
    const { store, flaky, clock } = setup({ failureMode: 'closed', retryInterval: '1s' });
    flaky.state.behaviour = 'reject';
    await store.consume(checks);
    clock.advance(1000);
    flaky.state.behaviour = 'hang';
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => store.consume(checks)));
    expect(flaky.state.calls).toBe(2); // the probe only
    expect(concurrent.map((o) => o.reason)).toEqual([
      'store-timeout', // the probe, which timed out
      ...Array(9).fill('store-error'), // the others, degraded at once by the breaker
    ]);
    expect(store.stats()).toMatchObject({ state: 'down', probes: 1, timeouts: 1, errors: 1 });
    clock.advance(999);
    await store.consume(checks);
    expect(flaky.state.calls).toBe(2);
    clock.advance(1);
    await store.consume(checks);
    expect(flaky.state.calls).toBe(3);
    expect(store.stats().probes).toBe(2);
  });

  it('recovers automatically when a probe succeeds', async () => {
    const { store, flaky, clock } = setup({ failureMode: 'fallback', retryInterval: '1s' });
    flaky.state.behaviour = 'reject';
    expect((await store.consume(checks)).reason).toBe('fallback');
    flaky.state.behaviour = 'ok';
    clock.advance(1000);
    const probe = await store.consume(checks);
    expect(probe.reason).toBeUndefined();
    expect(probe).toMatchObject({ allowed: true, remaining: 1 }); // the store's own state
    expect((await store.consume(checks)).reason).toBeUndefined();
    expect(flaky.state.calls).toBe(3);
    expect(store.stats()).toMatchObject({ state: 'up', probes: 1, recoveries: 1, errors: 1 });
    expect(store.stats().lastError).toBe('connect ECONNREFUSED');
  });

  it('a failure of a call started before the outage neither extends it nor re-trips', async () => {
    const { store, flaky, clock, errors } = setup({ failureMode: 'open', retryInterval: '1s' });
    flaky.state.behaviour = 'hang';
    const slow = store.consume(checks); // in flight while the store goes down
    flaky.state.behaviour = 'reject';
    await store.consume(checks); // trips the breaker at T0
    clock.advance(600);
    expect((await slow).reason).toBe('store-timeout'); // fails while down
    expect(errors.map(([, reason]) => reason)).toEqual(['store-error', 'store-timeout']);
    clock.advance(400);
    flaky.state.behaviour = 'ok';
    expect((await store.consume(checks)).reason).toBeUndefined(); // probed on time, not at T0 + 1600
    expect(store.stats()).toMatchObject({ state: 'up', timeouts: 1, errors: 1, recoveries: 1 });
  });

  it('swallows whatever onError throws', async () => {
    const { store, flaky } = setup({
      failureMode: 'open',
      onError: () => {
        throw new Error('logger down');
      },
    });
    flaky.state.behaviour = 'reject';
    expect((await store.consume(checks)).reason).toBe('store-error');
  });
});
