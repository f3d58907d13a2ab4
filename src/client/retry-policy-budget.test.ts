import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import {
  budgetRecordRequest,
  budgetTryRetry,
  createRetryBudget,
  normalizeRetryBudget,
  type RetryBudgetOptions,
} from './retry-policy-budget.js';

describe('retry budget', () => {
  it('has the documented defaults and validates its options', () => {
    expect(normalizeRetryBudget()).toEqual({ ratio: 0.2, minPerSecond: 3, maxTokens: 10 });
    expect(normalizeRetryBudget({ minPerSecond: 50 }).maxTokens).toBe(50);
    for (const [options, path] of [
      [{ ratio: -1 }, 'ratio'],
      [{ minPerSecond: Number.NaN }, 'minPerSecond'],
      [{ maxTokens: 0.5 }, 'maxTokens'],
      [{ percent: 20 }, 'percent'],
    ] as [RetryBudgetOptions, string][]) {
      try {
        normalizeRetryBudget(options);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).path).toBe(path);
      }
    }
  });

  it('starts full, then refuses once the banked retries are spent', () => {
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 3 });
    const allowed = Array.from({ length: 12 }, () => budget.tryRetry(0));
    expect(allowed.filter(Boolean)).toHaveLength(10);
    expect(allowed.slice(10)).toEqual([false, false]);
  });

  it('caps retries by the ratio during an outage (every request fails)', () => {
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 3 });
    let retries = 0;
    // 10,000 requests over 10 s (1,000 per second), each failing and asking for a retry.
    for (let i = 0; i < 10_000; i++) {
      const nowMs = i;
      budget.recordRequest(nowMs);
      if (budget.tryRetry(nowMs)) retries++;
    }
    // At most maxTokens + ratio × requests + minPerSecond × seconds = 10 + 2000 + 30.
    expect(retries).toBeLessThanOrEqual(2040);
    expect(retries).toBeGreaterThanOrEqual(2000);
    expect(retries / 10_000).toBeLessThan(0.21);
  });

  it('recovers after the outage: time and healthy requests refill the budget', () => {
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 3 });
    while (budget.tryRetry(0)) {
      // drain
    }
    expect(budget.tryRetry(0)).toBe(false);
    expect(budget.available(1000)).toBeCloseTo(3);
    expect([
      budget.tryRetry(1000),
      budget.tryRetry(1000),
      budget.tryRetry(1000),
      budget.tryRetry(1000),
    ]).toEqual([true, true, true, false]);
    for (let i = 0; i < 5; i++) budget.recordRequest(1000);
    expect(budget.tryRetry(1000)).toBe(true);
    expect(budget.available(60_000)).toBe(10);
  });

  it('the steps are pure and time going backwards earns nothing', () => {
    const config = normalizeRetryBudget({ maxTokens: 1, minPerSecond: 1 });
    const first = budgetTryRetry(undefined, 5000, config);
    expect(first).toEqual({ allowed: true, state: { tokens: 0, updatedMs: 5000 } });
    expect(budgetTryRetry(first.state, 4000, config)).toEqual({ allowed: false, state: first.state });
    expect(budgetTryRetry(first.state, 6000, config).allowed).toBe(true);
    expect(first.state).toEqual({ tokens: 0, updatedMs: 5000 });
    expect(budgetRecordRequest(first.state, 5000, config).tokens).toBeCloseTo(0.2);
  });

  it('property: retries ≤ maxTokens + ratio × requests + minPerSecond × seconds', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 10 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.boolean()), { maxLength: 300 }),
        (ratio, minPerSecond, events) => {
          const config = normalizeRetryBudget({ ratio, minPerSecond });
          const budget = createRetryBudget({ ratio, minPerSecond });
          let nowMs = 0;
          let requests = 0;
          let retries = 0;
          for (const [gapMs, isRetry] of events) {
            nowMs += gapMs;
            if (isRetry) {
              if (budget.tryRetry(nowMs)) retries++;
            } else {
              budget.recordRequest(nowMs);
              requests++;
            }
          }
          const bound = config.maxTokens + ratio * requests + (minPerSecond * nowMs) / 1000;
          expect(retries).toBeLessThanOrEqual(bound + 1e-6);
        },
      ),
    );
  });
});
