import { expect } from 'vitest';
import type { ContractTarget } from './store-contract.js';

/**
 * The gate part of the store contract (shared pauses: `closeGate`, `gateWait`), run by
 * `describeStoreContract` inside its suite. `test` is the suite's own `it`, which skips when the target
 * is unavailable.
 */
export function gateContractTests(
  test: (title: string, body: () => Promise<void>) => void,
  target: ContractTarget,
): void {
  let n = 0;
  const fresh = () => `gate-${process.pid}-${++n}-${Math.random().toString(36).slice(2)}`;

  test('gates: closed for the wait, only ever extended, open again after', async () => {
    const { store, clock } = await target.create(1_700_000_000_000);
    const key = fresh();
    expect(await store.gateWait!(key)).toBe(0);
    expect(await store.closeGate!(key, 1000)).toBe(1000);
    clock.advance(400);
    expect(await store.gateWait!(key)).toBe(600);
    // A shorter close does not shorten it; a longer one extends it.
    expect(await store.closeGate!(key, 100)).toBe(600);
    expect(await store.closeGate!(key, 2000)).toBe(2000);
    clock.advance(1999);
    expect(await store.gateWait!(key)).toBe(1);
    clock.advance(1);
    expect(await store.gateWait!(key)).toBe(0);
    // Gates are per key, and a zero wait leaves a gate open.
    expect(await store.closeGate!(key, 0)).toBe(0);
    expect(await store.gateWait!(fresh())).toBe(0);
  });

  test('gates: a negative or non-finite wait is refused, naming it', async () => {
    const { store } = await target.create(1_700_000_000_000);
    await expect(async () => store.closeGate!(fresh(), -1)).rejects.toThrow(/waitMs/);
    await expect(async () => store.closeGate!(fresh(), Number.POSITIVE_INFINITY)).rejects.toThrow(/waitMs/);
  });
}
