import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Check,
  fixedWindow,
  type LimitState,
  type ManualClock,
  type Store,
  slidingWindow,
  step,
  tokenBucket,
} from '../../src/index.js';
import { BATCH_LIMITS, batchOf, fresh, T0, view } from './contract-helpers.js';
import { gateContractTests } from './gate-contract.js';
import { buildLimit, expand, limitOf, loadBatchVectors, loadVectors, pick } from './vectors.js';

/** A store under test, on a manual clock it reads when a call passes no `nowMs`. */
export interface StoreFixture {
  store: Store;
  clock: ManualClock;
}

export interface ContractTarget {
  name: string;
  /** Prepares shared resources (a server …); returns false to skip with a notice. */
  setup?: () => Promise<boolean | undefined>;
  teardown?: () => Promise<void>;
  /** A fresh, empty store on a fresh manual clock starting at `startMs`. */
  create: (startMs: number) => Promise<StoreFixture>;
}

/**
 * The store contract: every store must pass it with identical decisions. Run with
 * `describeStoreContract(target)` from a `*.test.ts` file.
 */
export function describeStoreContract(target: ContractTarget): void {
  describe(`store contract: ${target.name}`, () => {
    let enabled = true;
    beforeAll(async () => {
      enabled = (await target.setup?.()) !== false;
    });
    afterAll(async () => {
      await target.teardown?.();
    });
    const test = (title: string, body: () => Promise<void>, timeout?: number) =>
      it(
        title,
        async (context) => {
          if (!enabled) context.skip();
          await body();
        },
        timeout,
      );

    test('a single check admits until the limit, then denies with the exact wait', async () => {
      const { store, clock } = await target.create(T0);
      const limit = fresh(tokenBucket({ rate: 10, per: '1s', burst: 3 }));
      const check: Check = { limit, key: 'user-1' };
      const allowed = [];
      for (let i = 0; i < 3; i++) allowed.push((await store.consume([check])).allowed);
      expect(allowed).toEqual([true, true, true]);
      const denied = await store.consume([check]);
      expect(view(denied)).toEqual({
        allowed: false,
        limit: 3,
        remaining: 0,
        resetAfterMs: 300,
        retryAfterMs: 100,
      });
      expect(denied.decisions).toHaveLength(1);
      clock.advance(100);
      expect((await store.consume([check])).allowed).toBe(true);
    });

    test('a denied multi-limit check consumes nothing from any limit', async () => {
      const { store } = await target.create(T0);
      const roomy = fresh(fixedWindow({ limit: 100, window: '1m' }));
      const tight = fresh(tokenBucket({ rate: 1, per: '1s', burst: 1 }));
      const checks: Check[] = [
        { limit: roomy, key: 'ip-1' },
        { limit: tight, key: 'account-1' },
      ];
      expect((await store.consume(checks)).allowed).toBe(true);
      const before = await store.peek([{ limit: roomy, key: 'ip-1', cost: 0 }]);
      for (let i = 0; i < 5; i++) {
        const outcome = await store.consume(checks);
        expect(outcome.allowed).toBe(false);
        expect(outcome.retryAfterMs).toBe(1000);
        // The roomy limit reports its untouched budget, not one consumed by a rolled-back request.
        expect(outcome.decisions[0]).toMatchObject({ allowed: true, remaining: 99 });
      }
      const after = await store.peek([{ limit: roomy, key: 'ip-1', cost: 0 }]);
      expect(view(after)).toEqual(view(before));
      expect(after.remaining).toBe(99);
    });

    test('the combined outcome reports the most restrictive remaining and wait', async () => {
      const { store } = await target.create(T0);
      const a = fresh(fixedWindow({ limit: 5, window: '10s' }));
      const b = fresh(fixedWindow({ limit: 2, window: '1s' }));
      const checks: Check[] = [
        { limit: a, key: 'k' },
        { limit: b, key: 'k' },
      ];
      const first = await store.consume(checks);
      expect(first).toMatchObject({ allowed: true, remaining: 1, limit: 2, retryAfterMs: 0 });
      await store.consume(checks);
      const denied = await store.consume(checks);
      expect(denied).toMatchObject({ allowed: false, remaining: 0, limit: 2, retryAfterMs: 1000 });
    });

    test('two checks of one limit and key in a batch count twice', async () => {
      const { store } = await target.create(T0);
      const limit = fresh(fixedWindow({ limit: 3, window: '1m' }));
      const twice: Check[] = [
        { limit, key: 'k', cost: 1 },
        { limit, key: 'k', cost: 1 },
      ];
      expect((await store.consume(twice)).allowed).toBe(true);
      const denied = await store.consume(twice);
      expect(denied.allowed).toBe(false);
      expect((await store.peek([{ limit, key: 'k', cost: 0 }])).remaining).toBe(1);
    });

    test('peek and zero-cost checks consume nothing', async () => {
      const { store } = await target.create(T0);
      const limit = fresh(slidingWindow({ limit: 2, window: '1s' }));
      for (let i = 0; i < 5; i++) {
        expect((await store.peek([{ limit, key: 'k' }])).allowed).toBe(true);
        expect((await store.consume([{ limit, key: 'k', cost: 0 }])).remaining).toBe(2);
      }
      expect((await store.consume([{ limit, key: 'k', cost: 2 }])).allowed).toBe(true);
      expect((await store.peek([{ limit, key: 'k' }])).allowed).toBe(false);
    });

    test('reset forgets a key under the given limits, or under all of them', async () => {
      const { store } = await target.create(T0);
      const a = fresh(fixedWindow({ limit: 1, window: '1h' }));
      const b = fresh(fixedWindow({ limit: 1, window: '1h' }));
      await store.consume([{ limit: a, key: 'k' }]);
      await store.consume([{ limit: b, key: 'k' }]);
      await store.reset('k', [a]);
      expect((await store.peek([{ limit: a, key: 'k' }])).allowed).toBe(true);
      expect((await store.peek([{ limit: b, key: 'k' }])).allowed).toBe(false);
      await store.reset('k');
      expect((await store.peek([{ limit: b, key: 'k' }])).allowed).toBe(true);
    });

    test('refuses a negative, infinite or non-numeric cost', async () => {
      const { store } = await target.create(T0);
      const limit = fresh(fixedWindow({ limit: 1, window: '1s' }));
      for (const cost of [-1, Number.POSITIVE_INFINITY, Number.NaN, '1' as unknown as number]) {
        await expect(store.consume([{ limit, key: 'k', cost }])).rejects.toThrow(
          /Expected `cost` to be a finite number ≥ 0/,
        );
      }
    });

    test('matches the pure algorithms, all-or-nothing, on random multi-limit traffic', async () => {
      const limits = [
        tokenBucket({ rate: 3, per: '1s', burst: 4 }),
        fixedWindow({ limit: 5, window: '2s' }),
        slidingWindow({ limit: 4, window: '1500ms' }),
      ];
      const request = fc.record({
        gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 800 })),
        picks: fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
        key: fc.constantFrom('a', 'b'),
        cost: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 3 }), fc.constant(0.5)),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 40 }), async (requests) => {
          const { store, clock } = await target.create(T0 + 123);
          const scoped = limits.map(fresh);
          const model = new Map<string, LimitState | undefined>();
          for (const { gap, picks, key, cost } of requests) {
            clock.advance(gap);
            const now = clock.now();
            const checks = picks.map((i) => ({ limit: scoped[i]!, key, cost }));
            const outcome = await store.consume(checks);
            // Reference: each limit decides on its own state; commit all only if all allow.
            const steps = picks.map((i) => step(model.get(`${i}/${key}`) as never, now, scoped[i]!, cost));
            const allAllowed = steps.every((s) => s.decision.allowed);
            expect(outcome.allowed).toBe(allAllowed);
            if (allAllowed) {
              for (const [j, i] of picks.entries()) model.set(`${i}/${key}`, steps[j]!.state);
              expect(outcome.decisions.map(view)).toEqual(steps.map((s) => view(s.decision)));
            } else {
              const denied = steps.filter((s) => !s.decision.allowed).map((s) => view(s.decision));
              expect(outcome.decisions.filter((d) => !d.allowed).map(view)).toEqual(denied);
            }
            // Whatever happened, every limit's state equals the model's.
            for (const [i, limit] of scoped.entries()) {
              for (const k of ['a', 'b']) {
                const peeked = await store.peek([{ limit, key: k, cost: 0 }]);
                expect(view(peeked.decisions[0]!)).toEqual(
                  view(step(model.get(`${i}/${k}`) as never, now, limit, 0).decision),
                );
              }
            }
          }
        }),
        { numRuns: 60 },
      );
    }, 60_000);

    test('passes every test vector in test/vectors/', async () => {
      for (const vector of loadVectors()) {
        const { store, clock } = await target.create(vector.startMs);
        const limit = fresh(limitOf(vector));
        for (const [i, arrival] of expand(vector).entries()) {
          clock.set(arrival.nowMs);
          const outcome = await store.consume([{ limit, key: 'vector', cost: arrival.cost }]);
          expect(pick(outcome, arrival.expect), `${vector.file}, arrival ${i}`).toEqual(arrival.expect);
        }
      }
    });

    test('property: a denied multi-limit check leaves every limit’s state unchanged', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), batchOf(2)), { maxLength: 30 }),
          async (steps) => {
            const { store, clock } = await target.create(T0);
            const scoped = BATCH_LIMITS.map(fresh);
            const everyState = async () => {
              const all = scoped.flatMap((limit) => ['x', 'y'].map((key) => ({ limit, key, cost: 0 })));
              return (await store.peek(all)).decisions.map(view);
            };
            for (const [gap, checks] of steps) {
              clock.advance(gap);
              const before = await everyState();
              const outcome = await store.consume(
                checks.map((c) => ({ limit: scoped[c.pick]!, key: c.key, cost: c.cost })),
              );
              if (!outcome.allowed) expect(await everyState()).toEqual(before);
            }
          },
        ),
        { numRuns: 60 },
      );
    }, 60_000);

    test('property: a denied batch’s retryAfterMs is exact, duplicates included (Infinity if it can never pass)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), batchOf(1)), { maxLength: 25 }),
          async (steps) => {
            const { store, clock } = await target.create(T0);
            const scoped = BATCH_LIMITS.map(fresh);
            for (const [gap, picks] of steps) {
              clock.advance(gap);
              const checks = picks.map((c) => ({ limit: scoped[c.pick]!, key: c.key, cost: c.cost }));
              const outcome = await store.consume(checks);
              if (outcome.allowed) continue;
              const wait = outcome.retryAfterMs;
              if (wait === Number.POSITIVE_INFINITY) {
                clock.advance(86_400_000);
                expect((await store.peek(checks)).allowed).toBe(false);
                continue;
              }
              clock.advance(wait - 1);
              expect((await store.peek(checks)).allowed).toBe(false);
              clock.advance(1);
              expect((await store.peek(checks)).allowed).toBe(true);
            }
          },
        ),
        { numRuns: 60 },
      );
    }, 60_000);

    test('peek answers exactly what consume would, duplicates included', async () => {
      const { store } = await target.create(T0);
      const limit = fresh(fixedWindow({ limit: 3, window: '1m' }));
      const twice: Check[] = [
        { limit, key: 'k', cost: 2 },
        { limit, key: 'k', cost: 2 },
      ];
      const peeked = await store.peek(twice);
      expect(peeked).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
      expect(view(await store.consume(twice))).toEqual(view(peeked));
    });

    test('passes every batch vector in test/vectors/batches/', async () => {
      const vectors = loadBatchVectors();
      expect(vectors.length).toBeGreaterThan(0);
      for (const vector of vectors) {
        const { store, clock } = await target.create(vector.startMs);
        const limits = vector.limits.map((spec) => fresh(buildLimit(spec)));
        for (const [i, request] of vector.requests.entries()) {
          clock.set(vector.startMs + request.atMs);
          const outcome = await store.consume(
            request.checks.map((c) => ({ limit: limits[c.limit]!, key: c.key, cost: c.cost })),
          );
          expect(pick(outcome, request.expect), `${vector.file}, request ${i}`).toEqual(request.expect);
          if (request.decisions !== undefined) {
            const got = outcome.decisions.map((d, j) => pick(d, request.decisions![j]!));
            expect(got, `${vector.file}, request ${i}, decisions`).toEqual(request.decisions);
          }
        }
      }
    });

    test('leases: at most max in flight, denial reports the count, release frees a slot', async () => {
      const { store } = await target.create(T0);
      const key = fresh(fixedWindow({ limit: 1, window: '1s' })).id;
      const held = [];
      for (let i = 0; i < 5; i++) {
        const result = await store.acquire(key, 5, 30_000);
        expect(result).toMatchObject({ acquired: true, current: i + 1, max: 5 });
        if (result.acquired) held.push(result.lease);
      }
      expect(await store.acquire(key, 5, 30_000)).toEqual({ acquired: false, current: 5, max: 5 });
      expect(await store.release(held[0]!)).toBe(true);
      expect(await store.release(held[0]!)).toBe(false);
      expect(await store.acquire(key, 5, 30_000)).toMatchObject({ acquired: true, current: 5 });
    });

    test('leases: an expired lease frees its slot by itself; renew keeps one alive', async () => {
      const { store, clock } = await target.create(T0);
      const key = fresh(fixedWindow({ limit: 1, window: '1s' })).id;
      const first = await store.acquire(key, 2, 1000);
      const second = await store.acquire(key, 2, 1000);
      if (!first.acquired || !second.acquired) throw new Error('expected two leases');
      clock.advance(600);
      const renewed = await store.renew(second.lease, 1000);
      expect(renewed?.expiresAtMs).toBe(T0 + 1600);
      clock.advance(400);
      // The first lease (never released: its holder "crashed") has expired; the renewed one holds.
      expect(await store.acquire(key, 2, 1000)).toMatchObject({ acquired: true, current: 2 });
      expect(await store.release(first.lease)).toBe(false);
      expect(await store.renew(first.lease, 1000)).toBeUndefined();
    });

    test('leases never exceed the maximum under random acquire, release and time', async () => {
      const op = fc.oneof(
        fc.record({ kind: fc.constant('acquire' as const), ttl: fc.integer({ min: 1, max: 500 }) }),
        fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
        fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 300 }) }),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 4 }),
          fc.array(op, { maxLength: 60 }),
          async (max, ops) => {
            const { store, clock } = await target.create(T0);
            const key = fresh(fixedWindow({ limit: 1, window: '1s' })).id;
            let live: { id: string; expiresAtMs: number; lease: import('../../src/index.js').Lease }[] = [];
            for (const o of ops) {
              live = live.filter((l) => l.expiresAtMs > clock.now());
              if (o.kind === 'advance') clock.advance(o.ms);
              else if (o.kind === 'release' && live.length > 0) {
                const [gone] = live.splice(o.pick % live.length, 1);
                expect(await store.release(gone!.lease)).toBe(true);
              } else if (o.kind === 'acquire') {
                const result = await store.acquire(key, max, o.ttl);
                expect(result.acquired).toBe(live.length < max);
                expect(result.current).toBe(Math.min(max, live.length + (result.acquired ? 1 : 0)));
                if (result.acquired)
                  live.push({
                    id: result.lease.id,
                    expiresAtMs: result.lease.expiresAtMs,
                    lease: result.lease,
                  });
              }
              expect(live.length).toBeLessThanOrEqual(max);
            }
          },
        ),
        { numRuns: 80 },
      );
    }, 60_000);

    gateContractTests(test, target);
  });
}
