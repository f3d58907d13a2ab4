import { describe, expect, it } from 'vitest';
import { createManualClock } from './core/clock.js';
import { ConfigError } from './core/errors.js';
import { fixedWindow, slidingWindow, tokenBucket } from './core/limits.js';
import { createLimiter } from './limiter.js';
import { createMemoryStore } from './store/memory/memory-store.js';
import type { Store } from './store/types.js';

const T0 = 1_700_000_000_000;

describe('createLimiter', () => {
  it('admits and denies on the injected clock, synchronously and asynchronously', async () => {
    const clock = createManualClock(T0);
    const limiter = createLimiter({
      limits: tokenBucket({ rate: 10, per: '1s', burst: 60 }),
      clock: clock.now,
    });
    for (let i = 0; i < 59; i++) expect(limiter.consumeSync('merchant-user').allowed).toBe(true);
    expect(await limiter.consume('merchant-user')).toMatchObject({ allowed: true, remaining: 0 });
    expect(limiter.consumeSync('merchant-user')).toMatchObject({ allowed: false, retryAfterMs: 100 });
    clock.advance(100);
    expect(limiter.consumeSync('merchant-user', { cost: 1 }).allowed).toBe(true);
    expect(limiter.consumeSync('other-user').remaining).toBe(59);
  });

  it('applies several limits atomically: a denial by one consumes nothing from the others', () => {
    const clock = createManualClock(T0);
    const limiter = createLimiter({
      limits: [fixedWindow({ limit: 3, window: '1m' }), tokenBucket({ rate: 1, per: '1s', burst: 1 })],
      clock: clock.now,
    });
    expect(limiter.consumeSync('k').allowed).toBe(true);
    for (let i = 0; i < 10; i++) expect(limiter.consumeSync('k').allowed).toBe(false);
    expect(limiter.peekSync('k', { cost: 0 }).decisions[0]!.remaining).toBe(2);
    clock.advance(1000);
    expect(limiter.consumeSync('k')).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('keeps two limiters on one store apart, and lets a shared prefix share the budget', () => {
    const store = createMemoryStore();
    const limit = fixedWindow({ limit: 1, window: '1h' });
    const a = createLimiter({ limits: limit, store });
    const b = createLimiter({ limits: limit, store });
    expect(a.consumeSync('k').allowed).toBe(true);
    expect(b.consumeSync('k').allowed).toBe(true);
    expect(a.prefix).not.toBe(b.prefix);
    const c = createLimiter({ limits: limit, store, prefix: 'shared' });
    const d = createLimiter({ limits: limit, store, prefix: 'shared' });
    expect(c.consumeSync('k').allowed).toBe(true);
    expect(d.consumeSync('k').allowed).toBe(false);
  });

  it('never confuses prefix and name, nor a user prefix with a default one', () => {
    const store = createMemoryStore();
    const a = createLimiter({
      limits: fixedWindow({ limit: 1, window: '1h', name: 'b:c' }),
      store,
      prefix: 'a',
    });
    const b = createLimiter({
      limits: fixedWindow({ limit: 1, window: '1h', name: 'c' }),
      store,
      prefix: 'a:b',
    });
    expect(a.limits[0]!.id).not.toBe(b.limits[0]!.id);
    expect(a.consumeSync('k').allowed).toBe(true);
    expect(b.consumeSync('k').allowed).toBe(true);
    const auto = createLimiter({ limits: fixedWindow({ limit: 1, window: '1h' }), store });
    const mimic = createLimiter({
      limits: fixedWindow({ limit: 1, window: '1h' }),
      store,
      prefix: 'limiter-1',
    });
    expect(auto.consumeSync('k').allowed).toBe(true);
    expect(mimic.consumeSync('k').allowed).toBe(true);
  });

  it('reset forgets only this limiter’s state', async () => {
    const store = createMemoryStore();
    const limit = fixedWindow({ limit: 1, window: '1h' });
    const a = createLimiter({ limits: limit, store });
    const b = createLimiter({ limits: limit, store });
    a.consumeSync('k');
    b.consumeSync('k');
    await a.reset('k');
    expect(a.consumeSync('k').allowed).toBe(true);
    expect(b.consumeSync('k').allowed).toBe(false);
  });

  it('works over any store through the async contract', async () => {
    const clock = createManualClock(T0);
    const memory = createMemoryStore({ clock: clock.now });
    // A store seen only through the contract: no synchronous fast path.
    const remote: Store = {
      consume: (c, n) => memory.consume(c, n),
      peek: (c, n) => memory.peek(c, n),
      reset: (k, l) => memory.reset(k, l),
      acquire: (k, m, t, n) => memory.acquire(k, m, t, n),
      release: (l, n) => memory.release(l, n),
      renew: (l, t, n) => memory.renew(l, t, n),
    };
    const limiter = createLimiter({ limits: slidingWindow({ limit: 2, window: '1s' }), store: remote });
    expect('consumeSync' in limiter).toBe(false);
    expect((await limiter.consume('k')).allowed).toBe(true);
    expect((await limiter.consume('k')).allowed).toBe(true);
    // Next window: the 2 counted decay as previous; 1 fits once their weight is ½, 1.5 s from now.
    expect(await limiter.consume('k')).toMatchObject({ allowed: false, retryAfterMs: 1500 });
  });

  it('limits concurrency per key with leases', async () => {
    const limiter = createLimiter({
      limits: tokenBucket({ rate: 100 }),
      concurrency: { max: 2, ttl: '30s' },
    });
    const first = limiter.acquireSync('user');
    const second = await limiter.acquire('user');
    expect(limiter.acquireSync('user')).toEqual({ acquired: false, current: 2, max: 2 });
    expect(limiter.acquireSync('someone-else').acquired).toBe(true);
    if (!first.acquired || !second.acquired) throw new Error('expected leases');
    expect(limiter.releaseSync(first.lease)).toBe(true);
    expect(limiter.acquireSync('user').acquired).toBe(true);
    const plain = createLimiter({ limits: tokenBucket({ rate: 1 }) });
    expect(() => plain.acquireSync('user')).toThrow('acquire() needs the `concurrency` option');
  });

  it('refuses bad options with the option, the expectation and the value', () => {
    const limit = tokenBucket({ rate: 1 });
    expect(() => createLimiter({ limits: [] })).toThrow(
      'Expected `limits` to be a limit or a non-empty array of limits, got `[]` (array)',
    );
    expect(() => createLimiter({ limits: [{ rate: 5 } as never] })).toThrow(
      'Expected `limits[0]` to be a limit made by tokenBucket(), fixedWindow() or slidingWindow()',
    );
    expect(() => createLimiter({ limits: [limit, limit] })).toThrow('Two limits are named `1/1s`');
    expect(() => createLimiter({ limits: limit, prefix: '' })).toThrow(
      'Expected `prefix` to be a non-empty string',
    );
    expect(() => createLimiter({ limits: limit, concurrency: { max: 0 } })).toThrow(
      'Expected `concurrency.max` to be an integer ≥ 1, got `0` (number)',
    );
    expect(() => createLimiter({ limits: limit, store: createMemoryStore(), burst: 5 } as never)).toThrow(
      ConfigError,
    );
    const limiter = createLimiter({ limits: limit });
    expect(() => limiter.consumeSync('k', { cost: -1 })).toThrow(
      'Expected `cost` to be a finite number ≥ 0, got `-1` (number)',
    );
    // A missing key (an absent header) must not silently become one budget shared by everyone.
    expect(() => limiter.consumeSync(undefined as never)).toThrow(
      'Expected `key` to be a string, got `undefined`',
    );
    expect(() => limiter.store.consumeSync([{ limit, key: 42 as never }])).toThrow(
      'Expected `key` to be a string',
    );
    expect(() => limiter.peekSync(null as never)).toThrow('Expected `key` to be a string, got `null`');
  });
});

describe('a wrapped memory store', () => {
  it('is used through its async methods: a wrapper that replaced consume sees every call', async () => {
    const inner = createMemoryStore();
    let calls = 0;
    const store: Store = {
      ...inner,
      consume: (checks, nowMs) => {
        calls++;
        return inner.consume(checks, nowMs);
      },
    };
    const limiter = createLimiter({ limits: [fixedWindow({ limit: 1, window: '1m' })], store });
    expect('consumeSync' in limiter).toBe(false);
    expect((await limiter.consume('k')).allowed).toBe(true);
    expect((await limiter.consume('k')).allowed).toBe(false);
    expect(calls).toBe(2);
  });
});

describe('limit definitions', () => {
  it('validate every option with a clear message', () => {
    expect(() => tokenBucket({ rate: 0 })).toThrow(
      'Expected `rate` to be a positive number, got `0` (number)',
    );
    expect(() => tokenBucket({ rate: 10, burst: 0 })).toThrow(
      'Expected `burst` to be a positive number, got `0` (number)',
    );
    expect(() => tokenBucket({ rate: 10, per: 'soon' })).toThrow(
      'Expected `per` to be a duration like "250ms"',
    );
    expect(() => tokenBucket({ rate: 10, brust: 60 } as never)).toThrow(
      'Unknown option `brust` in tokenBucket(); expected one of `rate`, `per`, `burst`, `name`',
    );
    expect(() => fixedWindow({ limit: 10 } as never)).toThrow(
      "Missing `window` in fixedWindow(), e.g. '10s'",
    );
    expect(() => slidingWindow({ limit: Number.NaN, window: '1s' })).toThrow(
      'Expected `limit` to be a positive number, got `NaN` (number)',
    );
    expect(() => fixedWindow({ limit: 1, window: '0s' })).toThrow(
      'Expected `window` to be a positive duration',
    );
  });

  it('describe themselves for headers and logs', () => {
    expect(tokenBucket({ rate: 10, per: '1s', burst: 60 })).toMatchObject({
      name: '10/1s-burst-60',
      spec: 'tokenBucket:10/1000ms:60',
      intervalMs: 100,
    });
    expect(tokenBucket({ rate: 1, per: '5m' })).toMatchObject({
      name: '1/5m',
      burst: 1,
      intervalMs: 300_000,
    });
    expect(fixedWindow({ limit: 50, window: '10s' }).name).toBe('50/10s-fixed');
    expect(slidingWindow({ limit: 200, window: '10s', name: 'data-sources' }).name).toBe('data-sources');
  });
});

describe('consumeInto: the zero-allocation path', () => {
  it('fills and returns the lent buffer, with the same figures as consumeSync', async () => {
    const { createDecisionBuffer } = await import('./core/decision.js');
    const clock = createManualClock(T0);
    const a = createLimiter({ limits: tokenBucket({ rate: 1, per: '1s', burst: 2 }), clock: clock.now });
    const b = createLimiter({ limits: tokenBucket({ rate: 1, per: '1s', burst: 2 }), clock: clock.now });
    const buffer = createDecisionBuffer();
    for (let i = 0; i < 4; i++) {
      const filled = a.consumeInto('k', buffer);
      expect(filled).toBe(buffer);
      expect(filled.decisions).toEqual([buffer]);
      expect(JSON.parse(JSON.stringify(filled))).toEqual(JSON.parse(JSON.stringify(b.consumeSync('k'))));
    }
    expect(buffer).toMatchObject({ allowed: false, retryAfterMs: 1000 });
  });

  it('lists every limit’s decision when the limiter has several', async () => {
    const { createDecisionBuffer } = await import('./core/decision.js');
    const limiter = createLimiter({
      limits: [fixedWindow({ limit: 1, window: '1m' }), fixedWindow({ limit: 5, window: '1h' })],
    });
    const buffer = createDecisionBuffer();
    limiter.consumeInto('k', buffer);
    expect(buffer.decisions.map((d) => d.remaining)).toEqual([0, 4]);
    limiter.consumeInto('k', buffer);
    expect(buffer).toMatchObject({ allowed: false, remaining: 0 });
    expect(buffer.decisions.map((d) => d.allowed)).toEqual([false, true]);
  });
});

describe('gates: a shared cooldown', () => {
  it('closeGate holds every limiter of the same store and prefix; gateWait reads it', async () => {
    const clock = createManualClock(0);
    const store = createMemoryStore({ clock: clock.now });
    const limit = tokenBucket({ rate: 1 });
    const a = createLimiter({ limits: limit, store, prefix: 'api' });
    const b = createLimiter({ limits: limit, store, prefix: 'api' });
    const other = createLimiter({ limits: limit, store, prefix: 'other' });
    expect(await a.closeGate('acct-1', 5000)).toBe(5000);
    clock.advance(2000);
    expect(await b.gateWait('acct-1')).toBe(3000);
    expect(await b.gateWait('acct-2')).toBe(0);
    expect(await other.gateWait('acct-1')).toBe(0);
  });

  it('needs a store with gates', async () => {
    const memory = createMemoryStore();
    const { closeGate: _c, gateWait: _g, ...bare } = memory;
    const limiter = createLimiter({ limits: tokenBucket({ rate: 1 }), store: bare as Store });
    await expect(limiter.gateWait('k')).rejects.toThrow(/store with gates/);
  });
});
