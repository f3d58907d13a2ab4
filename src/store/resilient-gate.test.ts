import { describe, expect, it } from 'vitest';
import { createManualClock } from '../core/clock.js';
import { createMemoryStore } from './memory/memory-store.js';
import { createResilientStore } from './resilient.js';
import type { Store } from './types.js';

const T0 = 1_700_000_000_000;

describe('createResilientStore: gates', () => {
  it('passes gates through to a store that has them', async () => {
    const clock = createManualClock(T0);
    const store = createResilientStore(createMemoryStore({ clock: clock.now }), { clock: clock.now });
    expect(await store.closeGate!('k', 500)).toBe(500);
    clock.advance(200);
    expect(await store.gateWait!('k')).toBe(300);
  });

  it('has none when the wrapped store has none', () => {
    const memory = createMemoryStore();
    const bare: Store = {
      consume: memory.consume,
      peek: memory.peek,
      reset: memory.reset,
      acquire: memory.acquire,
      release: memory.release,
      renew: memory.renew,
    };
    const store = createResilientStore(bare);
    expect(store.closeGate).toBeUndefined();
    expect(store.gateWait).toBeUndefined();
  });

  it("during an outage, uses the fallback store's gate (a local pause); with no fallback, none", async () => {
    const clock = createManualClock(T0);
    const memory = createMemoryStore({ clock: clock.now });
    const down: Store = {
      ...memory,
      closeGate: () => Promise.reject(new Error('connect ECONNREFUSED')),
      gateWait: () => Promise.reject(new Error('connect ECONNREFUSED')),
    };
    const fallback = createMemoryStore({ clock: clock.now });
    const store = createResilientStore(down, { clock: clock.now, fallback, failureThreshold: 100 });
    expect(await store.closeGate!('k', 800)).toBe(800);
    clock.advance(300);
    expect(await store.gateWait!('k')).toBe(500);
    expect(await fallback.gateWait!('k')).toBe(500);
    const open = createResilientStore(down, { clock: clock.now, failureMode: 'open', failureThreshold: 100 });
    expect(await open.closeGate!('j', 800)).toBe(800);
    expect(await open.gateWait!('j')).toBe(0);
  });
});
