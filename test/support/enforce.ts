import { createManualClock } from '../../src/core/clock.js';
import { parsePolicies } from '../../src/policy/config.js';
import { createEnforcer, type RequestInfo } from '../../src/policy/enforce.js';
import { createMemoryStore } from '../../src/store/memory/memory-store.js';

/** Fixtures of the enforcer's tests (src/policy/enforce*.test.ts). */

export const T0 = 1_700_000_040_000; // on a whole minute: windows are aligned to the epoch
export const request = (over: Partial<RequestInfo> = {}): RequestInfo => ({
  method: 'GET',
  path: '/items',
  headers: {},
  remoteAddress: '203.0.113.9',
  ...over,
});

export function setup(config: unknown, rejection = {}) {
  const clock = createManualClock(T0);
  const store = createMemoryStore({ clock: clock.now });
  const enforcer = createEnforcer({ policies: parsePolicies(config), store, clock: clock.now, rejection });
  return { clock, store, enforcer };
}

export const header = (fields: readonly [string, string][], name: string) =>
  fields.find(([n]) => n === name)?.[1];
