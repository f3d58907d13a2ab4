import { describe, expect, it } from 'vitest';
import {
  createFlakyStore,
  perHour,
  perSecond,
  setup,
  T0,
  TIMEOUT,
  timed,
} from '../../test/support/resilient.js';
import { step } from '../core/algorithms/index.js';
import { createManualClock } from '../core/clock.js';
import { ConfigError, StoreError } from '../core/errors.js';
import { fixedWindow } from '../core/limits.js';
import { createMemoryStore } from './memory/memory-store.js';
import { createResilientStore, type ResilientStoreOptions } from './resilient.js';
import type { Store } from './types.js';

describe('resilient store: options', () => {
  const clock = createManualClock(T0);
  const inner = createFlakyStore(clock).store;

  it('accepts durations as strings or milliseconds', () => {
    expect(() => createResilientStore(inner, { timeout: '20ms', retryInterval: '5s' })).not.toThrow();
    expect(() => createResilientStore(inner, { timeout: 20, retryInterval: 5000 })).not.toThrow();
  });

  it.each([
    [{ timeout: 'soon' }, 'timeout'],
    [{ timeout: 0 }, 'timeout'],
    [{ retryInterval: -1 }, 'retryInterval'],
    [{ failureMode: 'half-open' }, 'failureMode'],
    [{ clock: 5 }, 'clock'],
    [{ onError: 'log' }, 'onError'],
    [{ fallback: {} }, 'fallback'],
    [{ failureMode: 'open', fallback: createMemoryStore() }, 'fallback'],
    [{ timout: 50 }, 'timout'],
  ])('refuses %j, naming `%s`', (options, path) => {
    const call = () => createResilientStore(inner, options as ResilientStoreOptions);
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(`\`${path}\``);
    try {
      call();
    } catch (error) {
      expect((error as ConfigError).path).toBe(path);
    }
  });

  it('refuses something that is not a store', () => {
    expect(() => createResilientStore({ consume: () => {} } as unknown as Store)).toThrow(
      /Expected `store` to be a Store/,
    );
  });
});

describe('resilient store: store up', () => {
  it('passes answers through untouched, with no reason', async () => {
    const { store, flaky, errors } = setup();
    const checks = [{ limit: perHour, key: 'k' }];
    expect(await store.consume(checks)).toMatchObject({ allowed: true, remaining: 1 });
    const outcome = await store.consume(checks);
    expect(outcome).toMatchObject({ allowed: true, remaining: 0 });
    expect(outcome.reason).toBeUndefined();
    expect((await store.consume(checks)).allowed).toBe(false);
    const result = await store.acquire('c', 1, 1000);
    expect(result).toMatchObject({ acquired: true, current: 1 });
    expect(result.reason).toBeUndefined();
    if (result.acquired) expect(await store.release(result.lease)).toBe(true);
    expect(store.inner).toBe(flaky.store);
    expect(store.stats()).toEqual({
      state: 'up',
      timeouts: 0,
      errors: 0,
      degraded: { open: 0, closed: 0, fallback: 0 },
      probes: 0,
      recoveries: 0,
    });
    expect(errors).toEqual([]);
  });
});

describe('resilient store: failure modes', () => {
  const checks = [
    { limit: perSecond, key: 'user', cost: 2 },
    { limit: perHour, key: 'account' },
  ];

  it('open: allows as if no key had state, reason store-error', async () => {
    const { store, flaky, errors } = setup({ failureMode: 'open' });
    flaky.state.behaviour = 'reject';
    for (const call of [() => store.consume(checks), () => store.peek(checks, T0 + 5)]) {
      const outcome = await call();
      expect(outcome.allowed).toBe(true);
      expect(outcome.reason).toBe('store-error');
    }
    const outcome = await store.consume(checks, T0);
    const fresh = [step(undefined, T0, perSecond, 2).decision, step(undefined, T0, perHour, 1).decision];
    expect(outcome.decisions).toEqual(fresh.map((d) => ({ ...d })));
    expect(outcome).toMatchObject({ allowed: true, remaining: 1, limit: 2, reason: 'store-error' });
    expect(errors).toHaveLength(1);
    expect(errors[0]![1]).toBe('store-error');
    expect((errors[0]![0] as Error).message).toBe('connect ECONNREFUSED');
  });

  it('open: acquire hands out a made-up lease that releases and renews without the store', async () => {
    const { store, flaky, clock } = setup({ failureMode: 'open' });
    flaky.state.behaviour = 'reject';
    const result = await store.acquire('jobs', 3, 1000);
    expect(result).toMatchObject({ acquired: true, current: 1, max: 3, reason: 'store-error' });
    if (!result.acquired) throw new Error('unreachable');
    expect(result.lease.expiresAtMs).toBe(T0 + 1000);
    const calls = flaky.state.calls;
    clock.advance(5000); // the store would be probed by a call to it
    expect(await store.renew(result.lease, 2000)).toEqual({ ...result.lease, expiresAtMs: T0 + 7000 });
    expect(await store.release(result.lease)).toBe(true);
    expect(flaky.state.calls).toBe(calls);
    expect(store.stats().degraded).toEqual({ open: 1, closed: 0, fallback: 0 });
  });

  it('closed: denies until the store is next tried, reason store-timeout', async () => {
    const { store, flaky, clock } = setup({ failureMode: 'closed', retryInterval: '1s' });
    flaky.state.behaviour = 'hang';
    const outcome = await store.consume(checks);
    expect(outcome).toMatchObject({
      allowed: false,
      remaining: 0,
      retryAfterMs: 1000,
      resetAfterMs: 1000,
      reason: 'store-timeout',
    });
    expect(outcome.decisions.map((d) => [d.allowed, d.limit, d.remaining, d.retryAfterMs])).toEqual([
      [false, 5, 0, 1000],
      [false, 2, 0, 1000],
    ]);
    clock.advance(300);
    expect(await store.peek(checks)).toMatchObject({ allowed: false, retryAfterMs: 700 });
    expect(await store.acquire('jobs', 4, 1000)).toEqual({
      acquired: false,
      current: 4,
      max: 4,
      reason: 'store-timeout',
    });
    expect(store.stats()).toMatchObject({ timeouts: 1, errors: 0, degraded: { closed: 3 } });
  });

  it('fallback (the default): decides on a local memory store on the wrapper clock', async () => {
    const { store, flaky, clock } = setup();
    flaky.state.behaviour = 'reject';
    const limit = fixedWindow({ limit: 2, window: '1s' });
    const one = [{ limit, key: 'k' }];
    expect(await store.consume(one)).toMatchObject({ allowed: true, remaining: 1, reason: 'fallback' });
    expect(await store.peek(one)).toMatchObject({ allowed: true, remaining: 0, reason: 'fallback' });
    expect(await store.consume(one)).toMatchObject({ allowed: true, remaining: 0, reason: 'fallback' });
    expect(await store.consume(one)).toMatchObject({ allowed: false, reason: 'fallback' });
    clock.advance(1000); // a new window on the fallback; the probe fails again
    expect(await store.consume(one)).toMatchObject({ allowed: true, reason: 'fallback' });
    const acquired = await store.acquire('jobs', 1, 60_000);
    expect(acquired).toMatchObject({ acquired: true, current: 1, reason: 'fallback' });
    expect(await store.acquire('jobs', 1, 60_000)).toMatchObject({ acquired: false, reason: 'fallback' });
    expect(store.stats()).toMatchObject({ state: 'down', errors: 2, probes: 1 });
    expect(store.stats().degraded).toEqual({ open: 0, closed: 0, fallback: 7 });
  });

  it('fallback: uses the fallback store given', async () => {
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
    await store.consume([{ limit: perHour, key: 'k' }]);
    expect(local.peekSync([{ limit: perHour, key: 'k', cost: 0 }]).remaining).toBe(1);
  });

  it('JSON of a degraded outcome has the usual shape plus its reason', async () => {
    const { store, flaky } = setup({ failureMode: 'open' });
    flaky.state.behaviour = 'reject';
    const json = JSON.parse(JSON.stringify(await store.consume([{ limit: perHour, key: 'k' }], T0)));
    expect(json).toEqual({
      allowed: true,
      limit: 2,
      remaining: 1,
      resetAfterMs: json.resetAfterMs,
      retryAfterMs: 0,
      decisions: [
        { allowed: true, limit: 2, remaining: 1, resetAfterMs: json.resetAfterMs, retryAfterMs: 0 },
      ],
      reason: 'store-error',
    });
  });
});

describe('resilient store: timeout', () => {
  it.each(['open', 'closed', 'fallback'] as const)(
    '%s: every call settles within the timeout when the store never answers',
    async (failureMode) => {
      const { store, flaky, clock } = setup({ failureMode });
      flaky.state.behaviour = 'hang';
      const checks = [{ limit: perHour, key: 'k' }];
      const [outcome, ms] = await timed(store.consume(checks));
      expect(ms).toBeLessThan(1000);
      expect(outcome.reason).toBe(failureMode === 'fallback' ? 'fallback' : 'store-timeout');
      clock.advance(1000);
      const [, acquireMs] = await timed(store.acquire('c', 1, 1000));
      expect(acquireMs).toBeLessThan(1000);
      clock.advance(1000);
      const [released, releaseMs] = await timed(store.release({ key: 'c', id: 'x', expiresAtMs: T0 }));
      expect(released).toBe(false);
      expect(releaseMs).toBeLessThan(1000);
      clock.advance(1000);
      const [reset, resetMs] = await timed(store.reset('k').catch((error: unknown) => error));
      expect(reset).toBeInstanceOf(StoreError);
      expect((reset as StoreError).code).toBe('ERR_SLUICE_STORE_TIMEOUT');
      expect(resetMs).toBeLessThan(1000);
      expect(store.stats()).toMatchObject({ timeouts: 4, errors: 0, probes: 3 });
    },
  );

  it('a store method that throws synchronously is a store error, not a crash', async () => {
    const clock = createManualClock(T0);
    const inner = createFlakyStore(clock).store;
    const store = createResilientStore(
      {
        ...inner,
        consume: () => {
          throw new TypeError('client is closed');
        },
      },
      { failureMode: 'open', clock: clock.now, failureThreshold: 1 },
    );
    expect((await store.consume([{ limit: perHour, key: 'k' }])).reason).toBe('store-error');
    expect(store.stats()).toMatchObject({ state: 'down', errors: 1, lastError: 'client is closed' });
  });

  it('an inner timeout StoreError counts as a timeout', async () => {
    const clock = createManualClock(T0);
    const inner = createFlakyStore(clock).store;
    const store = createResilientStore(
      { ...inner, consume: async () => Promise.reject(new StoreError('ERR_SLUICE_STORE_TIMEOUT', 'slow')) },
      { failureMode: 'open', clock: clock.now, failureThreshold: 1 },
    );
    expect((await store.consume([{ limit: perHour, key: 'k' }])).reason).toBe('store-timeout');
    expect(store.stats()).toMatchObject({ timeouts: 1, errors: 0, lastError: 'slow' });
  });
});
