import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createManualClock } from '../../core/clock.js';
import { fixedWindow, tokenBucket } from '../../core/limits.js';
import { createLimiter } from '../../limiter.js';
import { createMemoryStore } from './memory-store.js';

const T0 = 1_700_000_000_000;

describe('memory store: bounded memory', () => {
  afterEach(() => vi.restoreAllMocks());

  it('never holds more than maxKeys states nor maxLeaseKeys lease keys, however keys are rotated', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 300 }), // at least the 2 new keys of one batch
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 5000 }),
        (maxKeys, maxLeaseKeys, rotated, ttl) => {
          const clock = createManualClock(T0);
          const store = createMemoryStore({ maxKeys, maxLeaseKeys, clock: clock.now });
          const limit = fixedWindow({ limit: 5, window: '1h' });
          for (let i = 0; i < rotated; i++) {
            store.consumeSync([{ limit, key: `attacker-${i}` }]);
            if (i % 3 === 0)
              store.consumeSync([
                { limit, key: `batch-${i}` },
                { limit, key: `other-${i}`, cost: 2 },
              ]);
            if (i % 7 === 0) store.acquireSync(`lease-${i}`, 1, ttl);
            if (i % 50 === 0) clock.advance(1);
            const { keys, leaseKeys } = store.stats();
            expect(keys).toBeLessThanOrEqual(maxKeys);
            expect(leaseKeys).toBeLessThanOrEqual(maxLeaseKeys);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a full lease registry refuses new keys and keeps every rate limit', () => {
    const clock = createManualClock(T0);
    const store = createMemoryStore({ maxKeys: 100, maxLeaseKeys: 50, clock: clock.now });
    const limit = fixedWindow({ limit: 1, window: '1h' });
    store.consumeSync([{ limit, key: 'victim' }]);
    for (let i = 0; i < 50; i++) expect(store.acquireSync(`flood-${i}`, 1, 3_600_000).acquired).toBe(true);
    for (let i = 0; i < 1000; i++) {
      expect(store.acquireSync(`more-${i}`, 1, 1000)).toEqual({
        acquired: false,
        current: 0,
        max: 1,
        storeFull: true,
      });
    }
    expect(store.stats()).toMatchObject({ leaseKeys: 50, evicted: 0 });
    // The victim's spent budget was not wiped by the flood.
    expect(store.consumeSync([{ limit, key: 'victim' }]).allowed).toBe(false);
    // Keys that already hold a lease still work, and an expiry makes room again.
    expect(store.acquireSync('flood-3', 2, 1000).acquired).toBe(true);
    clock.advance(3_600_000);
    expect(store.acquireSync('after-expiry', 1, 1000).acquired).toBe(true);
    expect(store.stats().expiredLeases).toBeGreaterThanOrEqual(49);
  });

  it('a full registry admits a new key as soon as one lease has expired, renewed or not', () => {
    const clock = createManualClock(T0);
    const store = createMemoryStore({ maxLeaseKeys: 100, clock: clock.now });
    // Steady flood: one new key per ms, each lease held 100 ms and never released.
    for (let i = 0; i < 1000; i++) {
      expect(store.acquireSync(`k-${i}`, 1, 100).acquired).toBe(true);
      expect(store.stats().leaseKeys).toBeLessThanOrEqual(100);
      clock.advance(1);
    }
    // A lease renewed to a shorter TTL frees its place at the new time, not the old one.
    const small = createMemoryStore({ maxLeaseKeys: 1, clock: clock.now });
    const a = small.acquireSync('a', 1, 3_600_000);
    expect(small.acquireSync('b', 1, 1000)).toMatchObject({ acquired: false, storeFull: true });
    if (!a.acquired) throw new Error('expected a lease');
    small.renewSync(a.lease, 1000);
    clock.advance(10_000);
    expect(small.acquireSync('b', 1, 1000).acquired).toBe(true);
  });

  it('an allowed batch that fills the store keeps its own keys and stays within maxKeys', () => {
    const clock = createManualClock(T0);
    const store = createMemoryStore({ maxKeys: 32, clock: clock.now });
    const short = fixedWindow({ limit: 100, window: '1s' });
    const long = fixedWindow({ limit: 100, window: '1d' });
    for (let i = 0; i < 4; i++) store.consumeSync([{ limit: short, key: `batch-${i}` }]);
    for (let i = 0; i < 28; i++) store.consumeSync([{ limit: long, key: `other-${i}` }]);
    const batch = [0, 1, 2, 3].map((i) => ({ limit: short, key: `batch-${i}` }));
    for (let round = 0; round < 50; round++) {
      expect(store.consumeSync([...batch, { limit: long, key: `new-${round}` }]).allowed).toBe(true);
      expect(store.stats().keys).toBeLessThanOrEqual(32);
      // The batch's own keys kept their counts: 1 before, plus one per round.
      expect(store.peekSync([{ limit: short, key: 'batch-0', cost: 0 }]).remaining).toBe(100 - 2 - round);
    }
    // One sweep made room for many rounds, not one sweep per request.
    expect(store.stats().sweeps).toBeLessThanOrEqual(50 / 2);
  });

  it('looking, peeking and denying leave nothing behind, not even a table for an unseen limit', () => {
    const store = createMemoryStore();
    for (let i = 0; i < 100; i++) {
      const limit = fixedWindow({ limit: 1, window: '1s', name: `tenant-${i}` });
      store.peekSync([{ limit, key: 'k' }]);
      store.consumeSync([{ limit, key: 'k', cost: 5 }]);
      store.consumeSync([{ limit, key: 'k', cost: 0 }]);
      store.consumeSync([
        { limit, key: 'k', cost: 1 },
        { limit, key: 'j', cost: 2 },
      ]);
    }
    expect(store.stats()).toMatchObject({ keys: 0, tables: 0 });
  });

  it('a denied batch in a full store evicts nobody', () => {
    const clock = createManualClock(T0);
    const store = createMemoryStore({ maxKeys: 32, clock: clock.now });
    const limit = fixedWindow({ limit: 1, window: '1h' });
    for (let i = 0; i < 32; i++) store.consumeSync([{ limit, key: `victim-${i}` }]);
    for (let i = 0; i < 100; i++) {
      const denied = store.consumeSync([
        { limit, key: `new-${i}`, cost: 1 },
        { limit, key: `other-${i}`, cost: 5 },
      ]);
      expect(denied.allowed).toBe(false);
      expect(store.consumeSync([{ limit, key: `single-${i}`, cost: 5 }]).allowed).toBe(false);
    }
    expect(store.stats()).toMatchObject({ keys: 32, evicted: 0, sweeps: 0 });
    for (let i = 0; i < 32; i++) expect(store.peekSync([{ limit, key: `victim-${i}` }]).allowed).toBe(false);
  });

  it('drops expired state first and keeps every live key when that is enough', () => {
    const clock = createManualClock(T0);
    const store = createMemoryStore({ maxKeys: 100, clock: clock.now });
    const short = fixedWindow({ limit: 1, window: '1s' });
    const long = fixedWindow({ limit: 1, window: '1d' });
    for (let i = 0; i < 50; i++) store.consumeSync([{ limit: long, key: `keep-${i}` }]);
    for (let i = 0; i < 50; i++) store.consumeSync([{ limit: short, key: `gone-${i}` }]);
    clock.advance(2000);
    for (let i = 0; i < 40; i++) store.consumeSync([{ limit: short, key: `new-${i}` }]);
    const stats = store.stats();
    expect(stats).toMatchObject({ expired: 50, evicted: 0, sweeps: 1, keys: 90 });
    // The live keys kept their state: each is still denied.
    for (let i = 0; i < 50; i++)
      expect(store.peekSync([{ limit: long, key: `keep-${i}` }]).allowed).toBe(false);
  });

  it('when everything is live, evicts the state nearest its expiry and counts it', () => {
    const clock = createManualClock(T0);
    const store = createMemoryStore({ maxKeys: 64, clock: clock.now });
    const minute = fixedWindow({ limit: 1, window: '1m' });
    const day = fixedWindow({ limit: 1, window: '1d' });
    for (let i = 0; i < 32; i++) store.consumeSync([{ limit: day, key: `day-${i}` }]);
    for (let i = 0; i < 32; i++) store.consumeSync([{ limit: minute, key: `minute-${i}` }]);
    store.consumeSync([{ limit: day, key: 'one-more' }]);
    const stats = store.stats();
    expect(stats.evicted).toBeGreaterThan(0);
    expect(stats.keys).toBeLessThanOrEqual(60);
    // Only minute-window states were evicted: the day-window ones are still denied.
    for (let i = 0; i < 32; i++)
      expect(store.peekSync([{ limit: day, key: `day-${i}` }]).allowed).toBe(false);
  });

  it('runs no timer per key and handles windows longer than setTimeout can wait', () => {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const windowMs = 100 * 86_400_000; // 8.64e9 ms, four times setTimeout's 2^31 - 1
    const start = Math.ceil(T0 / windowMs) * windowMs + 1000;
    const clock = createManualClock(start);
    const store = createMemoryStore({ maxKeys: 1000, clock: clock.now });
    const long = fixedWindow({ limit: 2, window: '100d' });
    for (let i = 0; i < 5000; i++) store.consumeSync([{ limit: long, key: `k-${i % 500}` }]);
    expect(timers).not.toHaveBeenCalled();
    const wait = windowMs - 1000;
    expect(wait).toBeGreaterThan(2 ** 31);
    expect(store.consumeSync([{ limit: long, key: 'k-1' }]).retryAfterMs).toBe(wait);
    clock.advance(wait - 1);
    expect(store.consumeSync([{ limit: long, key: 'k-1' }]).allowed).toBe(false);
    clock.advance(1);
    expect(store.consumeSync([{ limit: long, key: 'k-1' }]).allowed).toBe(true);
  });

  it('does not keep state for denied or zero-cost requests on new keys', () => {
    const store = createMemoryStore();
    const limit = tokenBucket({ rate: 1, burst: 1 });
    store.consumeSync([{ limit, key: 'peek', cost: 0 }]);
    store.consumeSync([{ limit, key: 'too-big', cost: 5 }]);
    store.peekSync([{ limit, key: 'peeked' }]);
    store.consumeSync([
      { limit, key: 'batch', cost: 1 },
      { limit: fixedWindow({ limit: 1, window: '1s' }), key: 'batch', cost: 2 },
    ]);
    expect(store.stats().keys).toBe(0);
  });
});

describe('memory store: options', () => {
  it('names a bad option, the expectation and the value', () => {
    expect(() => createMemoryStore({ maxKeys: 0 })).toThrow(
      'Expected `maxKeys` to be an integer ≥ 1, got `0` (number)',
    );
    expect(() => createMemoryStore({ maxKeys: 1.5 })).toThrow('Expected `maxKeys` to be an integer ≥ 1');
    expect(() => createMemoryStore({ maxkeys: 5 } as never)).toThrow(
      'Unknown option `maxkeys` in createMemoryStore(); expected one of `maxKeys`, `maxLeaseKeys`, `clock`',
    );
    expect(() => createMemoryStore({ clock: 5 } as never)).toThrow(
      'Expected `clock` to be a function returning ms, got `5` (number)',
    );
    const store = createMemoryStore();
    expect(() => store.acquireSync('k', 0, 1000)).toThrow(
      'Expected `max` to be an integer ≥ 1, got `0` (number)',
    );
    expect(() => store.acquireSync('k', 1, -5)).toThrow('Expected `ttlMs` to be a positive number');
  });

  it('answers the async contract with the same decisions as the sync twins', async () => {
    const clock = createManualClock(T0);
    const a = createMemoryStore({ clock: clock.now });
    const b = createMemoryStore({ clock: clock.now });
    const limit = tokenBucket({ rate: 2, burst: 2 });
    for (let i = 0; i < 4; i++) {
      expect(await a.consume([{ limit, key: 'k' }])).toEqual(b.consumeSync([{ limit, key: 'k' }]));
    }
  });

  it('forgets tables that hold no state, but keeps a live limiter’s own', () => {
    const clock = createManualClock(T0);
    const store = createMemoryStore({ maxKeys: 8, clock: clock.now });
    for (let i = 0; i < 1000; i++) {
      const limit = fixedWindow({ limit: 1, window: '1s', name: `tenant-${i}` });
      store.consumeSync([{ limit, key: 'k' }]);
      clock.advance(200);
    }
    // Every sweep dropped the tables it emptied: never more tables than states plus the one being written.
    expect(store.stats().tables).toBeLessThanOrEqual(store.stats().keys + 1);
    const limiter = createLimiter({ limits: fixedWindow({ limit: 2, window: '1h' }), store });
    expect(limiter.consumeSync('k').remaining).toBe(1);
    limiter.resetSync('k'); // empties the limiter's table; the limiter still holds it
    expect(limiter.consumeSync('k').remaining).toBe(1);
    expect(store.peekSync([{ limit: limiter.limits[0]!, key: 'k', cost: 0 }]).remaining).toBe(1);
    for (let i = 0; i < 100; i++)
      store.consumeSync([{ limit: fixedWindow({ limit: 1, window: '1s', name: `x-${i}` }), key: 'k' }]);
    expect(limiter.consumeSync('k').allowed).toBe(true);
    expect(limiter.consumeSync('k').allowed).toBe(false);
    expect(store.peekSync([{ limit: limiter.limits[0]!, key: 'k', cost: 0 }]).remaining).toBe(0);
  });

  it('releases the tables of limiters that were garbage collected', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) throw new Error('run vitest with --expose-gc (see vitest.config.ts)');
    const store = createMemoryStore();
    (() => {
      for (let i = 0; i < 200; i++) {
        const limiter = createLimiter({ limits: fixedWindow({ limit: 5, window: '1h' }), store });
        limiter.consumeSync('k');
        limiter.resetSync('k');
      }
    })();
    expect(store.stats().tables).toBe(200);
    for (let i = 0; i < 20 && store.stats().tables > 0; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(store.stats().tables).toBe(0);
  });

  it('refuses a time that is not a finite number rather than poisoning state', () => {
    const store = createMemoryStore();
    const limit = fixedWindow({ limit: 1, window: '1s' });
    expect(() => store.consumeSync([{ limit, key: 'k' }], Number.NaN)).toThrow(
      'Expected `nowMs` to be a finite number of ms, got `NaN` (number)',
    );
    expect(() => store.acquireSync('k', 1, 1000, Number.NaN)).toThrow(
      'Expected `nowMs` to be a finite number',
    );
  });

  it('serialises every outcome the same way, one check or several', () => {
    const store = createMemoryStore({ clock: () => T0 });
    const limit = fixedWindow({ limit: 5, window: '1s' });
    const one = JSON.parse(JSON.stringify(store.consumeSync([{ limit, key: 'a' }])));
    const two = JSON.parse(
      JSON.stringify(
        store.consumeSync([
          { limit, key: 'b' },
          { limit, key: 'c' },
        ]),
      ),
    );
    const shape = { allowed: true, limit: 5, remaining: 4, resetAfterMs: 1000, retryAfterMs: 0 };
    expect(one).toEqual({ ...shape, decisions: [shape] });
    expect(two).toEqual({ ...shape, decisions: [shape, shape] });
  });

  it('keeps state written under other parameters apart, even under the same name', () => {
    const store = createMemoryStore();
    const strict = fixedWindow({ limit: 1, window: '1h', name: 'api' });
    const loose = fixedWindow({ limit: 100, window: '1h', name: 'api' });
    store.consumeSync([{ limit: strict, key: 'k' }]);
    expect(store.consumeSync([{ limit: strict, key: 'k' }]).allowed).toBe(false);
    expect(store.consumeSync([{ limit: loose, key: 'k' }]).remaining).toBe(99);
  });
});
