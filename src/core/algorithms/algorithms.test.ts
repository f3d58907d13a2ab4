import { describe, expect, it } from 'vitest';
import { fixedWindow, slidingWindow, tokenBucket } from '../limits.js';
import { fixedWindowStep, type LimitState, step, tokenBucketStep } from './index.js';

const T0 = 1_700_000_000_000; // a Unix time on a whole second (and a whole 10 s)

/** Runs arrivals `[atMs, cost]` through one limit, returning the decisions. */
function run(limit: Parameters<typeof step>[2], arrivals: [number, number][]) {
  let state: LimitState | undefined;
  return arrivals.map(([at, cost]) => {
    const result = step(state as never, at, limit, cost);
    state = result.state;
    return result.decision;
  });
}

describe('token bucket (GCRA)', () => {
  const merchant = tokenBucket({ rate: 10, per: '1s', burst: 60 });

  it('admits the Merchant API burst of 60 at once, then one every 100 ms', () => {
    const decisions = run(merchant, [
      ...Array.from({ length: 61 }, () => [T0, 1] as [number, number]),
      [T0 + 99, 1],
      [T0 + 100, 1],
    ]);
    expect(decisions.slice(0, 60).every((d) => d.allowed)).toBe(true);
    expect(decisions[0]).toEqual({
      allowed: true,
      limit: 60,
      remaining: 59,
      resetAfterMs: 100,
      retryAfterMs: 0,
    });
    expect(decisions[59]).toEqual({
      allowed: true,
      limit: 60,
      remaining: 0,
      resetAfterMs: 6000,
      retryAfterMs: 0,
    });
    expect(decisions[60]).toEqual({
      allowed: false,
      limit: 60,
      remaining: 0,
      resetAfterMs: 6000,
      retryAfterMs: 100,
    });
    expect(decisions[61]).toMatchObject({ allowed: false, retryAfterMs: 1 });
    expect(decisions[62]).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('runs a fractional rate: one process call per five minutes', () => {
    const processLimit = tokenBucket({ rate: 1, per: '5m', burst: 1 });
    const decisions = run(processLimit, [
      [T0, 1],
      [T0 + 1000, 1],
      [T0 + 300_000, 1],
    ]);
    expect(decisions.map((d) => d.allowed)).toEqual([true, false, true]);
    expect(decisions[1]!.retryAfterMs).toBe(299_000);
  });

  it('counts fractional costs and says Infinity for a cost above the burst', () => {
    const limit = tokenBucket({ rate: 1, per: '1s', burst: 2 });
    const decisions = run(limit, [
      [T0, 0.5],
      [T0, 1.5],
      [T0, 0.25],
      [T0, 3],
    ]);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, false, false]);
    expect(decisions[2]!.retryAfterMs).toBe(250);
    expect(decisions[3]!.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
  });

  it('treats cost 0 as a peek that never changes state', () => {
    const limit = tokenBucket({ rate: 1, burst: 1 });
    const first = tokenBucketStep(undefined, T0, limit, 1);
    const peek = tokenBucketStep(first.state, T0, limit, 0);
    expect(peek.state).toBe(first.state);
    expect(peek.decision).toMatchObject({ allowed: true, remaining: 0 });
    expect(tokenBucketStep(undefined, T0, limit, 0).state).toBeUndefined();
  });
});

describe('fixed window', () => {
  const salesData = fixedWindow({ limit: 50, window: '10s' });

  it('admits 50 per aligned 10 s window and names the wait until the next window', () => {
    const arrivals = Array.from({ length: 51 }, (_, i) => [T0 + 2000 + i, 1] as [number, number]);
    const decisions = run(salesData, [...arrivals, [T0 + 9999, 1], [T0 + 10_000, 1]]);
    expect(decisions.slice(0, 51).filter((d) => d.allowed)).toHaveLength(50);
    expect(decisions[50]).toEqual({
      allowed: false,
      limit: 50,
      remaining: 0,
      resetAfterMs: 7950,
      retryAfterMs: 7950,
    });
    expect(decisions[51]).toMatchObject({ allowed: false, retryAfterMs: 1 });
    expect(decisions[52]).toMatchObject({ allowed: true, remaining: 49, resetAfterMs: 10_000 });
  });

  it('returns the given state untouched when denied', () => {
    const limit = fixedWindow({ limit: 1, window: '1s' });
    const first = fixedWindowStep(undefined, T0, limit, 1);
    const denied = fixedWindowStep(first.state, T0 + 5, limit, 1);
    expect(denied.decision.allowed).toBe(false);
    expect(denied.state).toBe(first.state);
  });
});

describe('sliding window counter', () => {
  const limit = slidingWindow({ limit: 10, window: '10s' });

  it('weights the previous window by its overlap', () => {
    // 10 in the first window, then 25 % into the next window: the estimate is 10·0.75 = 7.5, so 2 more fit.
    const first = Array.from({ length: 10 }, () => [T0 + 5000, 1] as [number, number]);
    const decisions = run(limit, [...first, [T0 + 12_500, 1], [T0 + 12_500, 1], [T0 + 12_500, 1]]);
    expect(decisions.slice(0, 10).every((d) => d.allowed)).toBe(true);
    expect(decisions.slice(10).map((d) => d.allowed)).toEqual([true, true, false]);
    // Denied at 7.5 + 2 = 9.5 counted: 1 more fits once 10·(1-f) ≤ 7, i.e. f ≥ 0.3 → 500 ms later.
    expect(decisions[12]!.retryAfterMs).toBe(500);
    expect(decisions[12]!.remaining).toBe(0);
  });

  it('waits for the next window when the current one is full', () => {
    const full = Array.from({ length: 11 }, () => [T0 + 1000, 1] as [number, number]);
    const decisions = run(limit, full);
    // At 10 s the 10 current become previous with weight 1; one slot frees once the weight is 0.9: 1 s later.
    expect(decisions[10]).toMatchObject({ allowed: false, retryAfterMs: 10_000 });
    expect(decisions[9]).toMatchObject({ resetAfterMs: 19_000 });
  });
});
