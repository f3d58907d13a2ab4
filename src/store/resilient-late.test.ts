import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from './memory/memory-store.js';
import { createResilientStore } from './resilient.js';
import type { Store } from './types.js';

describe('createResilientStore: a call that answers after its timeout', () => {
  it('gives back a concurrency slot that a timed-out acquire took late', async () => {
    const memory = createMemoryStore();
    let slow = true;
    const store: Store = {
      ...memory,
      acquire: async (...args) => {
        if (slow) await delay(80);
        return memory.acquire(...args);
      },
    };
    const resilient = createResilientStore(store, { timeout: 20, failureThreshold: 100 });
    const first = await resilient.acquire('k', 1, 60_000);
    expect(first.reason).toBe('fallback'); // answered by the fallback store
    await delay(120); // the late acquire has landed, and been released
    slow = false;
    expect(await memory.acquire('k', 1, 60_000)).toMatchObject({ acquired: true, current: 1 });
  });
});
