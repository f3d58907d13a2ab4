import { describe, expect, it } from 'vitest';
import { step } from '../core/algorithms/index.js';
import { createManualClock, type ManualClock } from '../core/clock.js';
import { ConfigError, StoreError } from '../core/errors.js';
import { fixedWindow, tokenBucket } from '../core/limits.js';
import { createLimiter } from '../limiter.js';
import { createMemoryStore } from './memory/memory-store.js';
import { createResilientStore, type ResilientStoreOptions } from './resilient.js';
import type { Store } from './types.js';

const T0 = 1_700_000_000_000;
const TIMEOUT = 20;
const perSecond = tokenBucket({ rate: 10, burst: 5 });
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
async function timed<T>(promise: Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await promise;
  return [value, performance.now() - start];
}

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
