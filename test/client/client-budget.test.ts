import { describe, expect, it } from 'vitest';
import { type ClientBudget, createClient, shareOf } from '../../src/client/index.js';
import { createManualClock } from '../../src/core/clock.js';
import { fixedWindow, tokenBucket } from '../../src/core/limits.js';
import { createMemoryStore } from '../../src/store/memory/memory-store.js';
import type { Store } from '../../src/store/types.js';

const ok = () => new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
const flush = async (rounds = 20) => {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** Clients on one manual clock; `fetch` answers 200 at once and records the time of every call. */
function setup() {
  const clock = createManualClock(1_700_000_000_000);
  const sent: number[] = [];
  const fetch = (async () => {
    sent.push(clock.now());
    return ok();
  }) as typeof globalThis.fetch;
  const make = (budget: object | undefined, limits = [fixedWindow({ limit: 10, window: '1s' })]) =>
    createClient({
      fetch,
      classes: { api: { match: () => true, limits } },
      margin: 1,
      adaptive: false,
      ...(budget === undefined ? {} : { budget: budget as ClientBudget }),
      clock: clock.now,
      sleep: clock.sleep,
    });
  return { clock, sent, make };
}

describe('ClientOptions.budget', () => {
  it('clients given the same store and name share one budget; without it each has its own', async () => {
    const shared = setup();
    const store = createMemoryStore({ clock: shared.clock.now });
    const [a, b] = [shared.make({ store, name: 'erp' }), shared.make({ store, name: 'erp' })];
    const pending = [
      ...Array.from({ length: 8 }, () => a!.fetch('https://api.test/x')),
      ...Array.from({ length: 8 }, () => b!.fetch('https://api.test/y')),
    ];
    await flush();
    expect(shared.sent).toHaveLength(10); // one window of 10, for both
    shared.clock.advance(1000);
    await flush();
    await Promise.all(pending);
    expect(shared.sent).toHaveLength(16);

    const apart = setup();
    const [c, d] = [apart.make(undefined), apart.make(undefined)];
    const more = [
      ...Array.from({ length: 8 }, () => c!.fetch('https://api.test/x')),
      ...Array.from({ length: 8 }, () => d!.fetch('https://api.test/y')),
    ];
    await flush();
    expect(apart.sent).toHaveLength(16); // 8 + 8: each client thinks it has the whole limit
    await Promise.all(more);
  });

  it('a store that can fail is made resilient: when it is down, the client falls back to its local share', async () => {
    const { clock, sent, make } = setup();
    const memory = createMemoryStore({ clock: clock.now });
    const down: Store = {
      consume: () => Promise.reject(new Error('connect ECONNREFUSED')),
      peek: () => Promise.reject(new Error('connect ECONNREFUSED')),
      reset: memory.reset,
      acquire: memory.acquire,
      release: memory.release,
      renew: memory.renew,
    };
    const client = make({ store: down, name: 'erp', localShare: 0.3 }, [
      fixedWindow({ limit: 10, window: '1s' }),
    ]);
    const pending = Array.from({ length: 10 }, () => client.fetch('https://api.test/x'));
    await flush(40);
    expect(sent).toHaveLength(3); // 30 % of 10 per second, locally
    clock.advance(1000);
    await flush(40);
    expect(sent).toHaveLength(6);
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      await flush(40);
    }
    await Promise.all(pending);
  });

  it('a share taken over mid-window starts from its part of what the shared budget had left, not full', async () => {
    const { clock, sent, make } = setup();
    const memory = createMemoryStore({ clock: clock.now });
    let down = false;
    const flaky: Store = {
      ...memory,
      consume: (checks, nowMs) =>
        down ? Promise.reject(new Error('ECONNREFUSED')) : memory.consume(checks, nowMs),
    };
    const client = make({ store: flaky, name: 'erp', localShare: 0.5 }, [
      fixedWindow({ limit: 10, window: '1m' }),
    ]);
    await Promise.all(Array.from({ length: 8 }, () => client.fetch('https://api.test/x')));
    expect(sent).toHaveLength(8); // 2 left in the shared window
    down = true;
    const pending = Array.from({ length: 6 }, () => client.fetch('https://api.test/y'));
    await flush(60);
    // Half of the 2 left, not half of the whole 10.
    expect(sent).toHaveLength(9);
    clock.advance(60_000);
    await flush(60);
    expect(sent).toHaveLength(14);
    await Promise.all(pending);

    // The store comes back; in a later window 8 more go through it; then a second outage: seeded again.
    down = false;
    clock.advance(60_000);
    await Promise.all(Array.from({ length: 8 }, () => client.fetch('https://api.test/z')));
    expect(sent).toHaveLength(22);
    down = true;
    const again = Array.from({ length: 3 }, () => client.fetch('https://api.test/w'));
    await flush(60);
    expect(sent).toHaveLength(23); // half of the 2 left again, not a fresh half of 10
    clock.advance(60_000);
    await flush(60);
    await Promise.all(again);
  });

  it('shareOf scales every limit and concurrency maximum of a store', async () => {
    const store = shareOf(createMemoryStore(), 0.5);
    const limit = tokenBucket({ rate: 10, burst: 10 });
    const allowed = [];
    for (let i = 0; i < 7; i++) allowed.push((await store.consume([{ limit, key: 'k' }], 0)).allowed);
    expect(allowed.filter(Boolean)).toHaveLength(5);
    const leases = [];
    for (let i = 0; i < 3; i++) leases.push((await store.acquire('k', 4, 1000, 0)).acquired);
    expect(leases).toEqual([true, true, false]);
    expect(() => shareOf(createMemoryStore(), 0)).toThrow(/share/);
  });

  it('validates the budget, naming the path', () => {
    const { make } = setup();
    expect(() => make({ store: {}, name: 'x' })).toThrow(/budget\.store/);
    expect(() => make({ store: createMemoryStore(), name: '' })).toThrow(/budget\.name/);
    expect(() => make({ store: createMemoryStore(), name: 'x', localShare: 2 })).toThrow(
      /budget\.localShare/,
    );
    expect(() => make({ store: createMemoryStore(), name: 'x', bogus: 1 })).toThrow(/bogus/);
  });
});
