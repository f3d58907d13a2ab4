import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import { fixedWindow, tokenBucket } from '../../src/core/limits.js';
import { createMemoryStore } from '../../src/store/memory/memory-store.js';
import { createResilientStore, type ResilientStoreOptions } from '../../src/store/resilient.js';
import type { Store } from '../../src/store/types.js';

/** Fixtures of the resilient store's tests (src/store/resilient*.test.ts): a flaky store and its wrapper. */

export const T0 = 1_700_000_000_000;
export const TIMEOUT = 20;
export const perSecond = tokenBucket({ rate: 10, burst: 5 });
export const perHour = fixedWindow({ limit: 2, window: '1h' });

type Behaviour = 'ok' | 'reject' | 'hang';

/** A memory store whose calls can be made to reject or to hang forever; counts the calls that reach it. */
export function createFlakyStore(clock: ManualClock) {
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

export function setup(options: ResilientStoreOptions = {}) {
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
export async function timed<T>(promise: Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await promise;
  return [value, performance.now() - start];
}
