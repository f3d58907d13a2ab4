import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../decision.js';
import { createDecisionBuffer } from '../decision.js';
import { fixedWindow, type Limit, slidingWindow, tokenBucket } from '../limits.js';
import { kernelOf, type LimitState, step } from './index.js';

const T0 = 1_700_000_000_000;
const SLACK = 1e-6; // float dust allowed on a bound, in units of cost

const tokenBuckets = fc
  .record({
    rate: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.double({ min: 0.01, max: 50, noNaN: true })),
    perMs: fc.constantFrom(1000, 10_000, 60_000, 300_000, 333, 7),
    burst: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.double({ min: 1, max: 20, noNaN: true })),
  })
  .map(({ rate, perMs, burst }) => tokenBucket({ rate, per: perMs, burst }));

const windows = fc.record({
  limit: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0.5, max: 30, noNaN: true })),
  windowMs: fc.constantFrom(1000, 10_000, 60_000, 777, 3),
});

const anyLimit: fc.Arbitrary<Limit> = fc.oneof(
  tokenBuckets,
  windows.map(({ limit, windowMs }) => fixedWindow({ limit, window: windowMs })),
  windows.map(({ limit, windowMs }) => slidingWindow({ limit, window: windowMs })),
);

/** Arrivals as (gap since the previous one in ms, cost); gaps are scaled to the limit's period. */
const arrivals = (integerCosts: boolean) =>
  fc.array(
    fc.tuple(
      fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 400_000 })),
      integerCosts
        ? fc.integer({ min: 0, max: 4 })
        : fc.oneof(fc.integer({ min: 0, max: 4 }), fc.double({ min: 0, max: 3, noNaN: true })),
    ),
    { minLength: 1, maxLength: 300 },
  );

interface Admission {
  at: number;
  cost: number;
}

function simulate(limit: Limit, gaps: [number, number][], start = T0) {
  let state: LimitState | undefined;
  let now = start;
  const admitted: Admission[] = [];
  const trace: { at: number; cost: number; before: LimitState | undefined; decision: Decision }[] = [];
  for (const [gap, cost] of gaps) {
    now += gap;
    const before = state;
    const result = step(state as never, now, limit, cost);
    trace.push({ at: now, cost, before, decision: result.decision });
    if (result.decision.allowed) admitted.push({ at: now, cost });
    state = result.state;
  }
  return { admitted, trace };
}

/** Admitted cost in the closed interval [from, from + length]. */
function admittedIn(admitted: Admission[], from: number, length: number): number {
  let sum = 0;
  for (const a of admitted) if (a.at >= from && a.at <= from + length) sum += a.cost;
  return sum;
}

describe('bounds: admitted cost in any interval stays within the algorithm bound', () => {
  it('token bucket: at most burst + rate·W/per in any interval of length W', () => {
    fc.assert(
      fc.property(tokenBuckets, arrivals(false), fc.integer({ min: 0, max: 600_000 }), (limit, gaps, W) => {
        const { admitted } = simulate(limit, gaps);
        const bound = limit.burst + W / limit.intervalMs;
        for (const a of admitted) {
          // Intervals starting at an admission are the tightest ones.
          expect(admittedIn(admitted, a.at, W)).toBeLessThanOrEqual(bound + SLACK * (1 + bound));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('fixed window: at most limit in each epoch-aligned window', () => {
    fc.assert(
      fc.property(windows, arrivals(false), ({ limit, windowMs }, gaps) => {
        const { admitted } = simulate(fixedWindow({ limit, window: windowMs }), gaps);
        const perWindow = new Map<number, number>();
        for (const a of admitted) {
          const index = Math.floor(a.at / windowMs);
          perWindow.set(index, (perWindow.get(index) ?? 0) + a.cost);
        }
        for (const total of perWindow.values())
          expect(total).toBeLessThanOrEqual(limit + SLACK * (1 + limit));
      }),
      { numRuns: 300 },
    );
  });

  it('sliding window: an interval of length W starting at fraction g of a window admits at most limit·(1+g)', () => {
    fc.assert(
      fc.property(windows, arrivals(false), ({ limit, windowMs }, gaps) => {
        const { admitted } = simulate(slidingWindow({ limit, window: windowMs }), gaps);
        const starts = new Set<number>();
        for (const a of admitted) {
          // The tightest starts: at an admission, just after one (it leaves the interval), where one enters
          // at the right end, and at window starts (where g drops to 0).
          starts.add(a.at);
          starts.add(a.at + 1e-6);
          starts.add(a.at - windowMs);
          starts.add(a.at - (a.at % windowMs));
        }
        for (const from of starts) {
          const g = (from % windowMs) / windowMs;
          const bound = limit * (1 + g);
          expect(admittedIn(admitted, from, windowMs)).toBeLessThanOrEqual(bound + SLACK * (1 + bound));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('sliding window: the bound is approached, so it cannot be tightened to limit', () => {
    // 10 at the very end of one window, then the counter lets ~10 more through during the next window.
    const limit = slidingWindow({ limit: 10, window: 1000 });
    const gaps: [number, number][] = [
      [999, 1],
      ...Array.from({ length: 9 }, () => [0, 1] as [number, number]),
    ];
    for (let i = 0; i < 200; i++) gaps.push([5, 1]);
    const { admitted } = simulate(limit, gaps, T0);
    expect(admittedIn(admitted, T0 + 999, 1000)).toBeGreaterThanOrEqual(18);
  });
});

describe('decisions', () => {
  it('a denied request consumes nothing: the state is returned untouched', () => {
    fc.assert(
      fc.property(anyLimit, arrivals(false), (limit, gaps) => {
        let state: LimitState | undefined;
        let now = T0;
        for (const [gap, cost] of gaps) {
          now += gap;
          const snapshot = state === undefined ? undefined : { ...state };
          const result = step(state as never, now, limit, cost);
          if (!result.decision.allowed) {
            expect(result.state).toBe(state);
            expect(state).toEqual(snapshot);
          }
          state = result.state;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the kernels write nothing for a denied request or a zero-cost peek', () => {
    fc.assert(
      fc.property(anyLimit, arrivals(false), (limit, gaps) => {
        const kernel = kernelOf(limit);
        const cells = new Float64Array(kernel.width);
        let now = T0;
        for (const [gap, cost] of gaps) {
          now += gap;
          const before = Float64Array.from(cells);
          const decision = kernel.step(limit, cells, 0, now, cost, createDecisionBuffer());
          if (!decision.allowed || cost === 0) expect(cells).toEqual(before);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('retryAfterMs is exact: allowed after that wait, denied one millisecond before it', () => {
    fc.assert(
      fc.property(anyLimit, arrivals(false), (limit, gaps) => {
        const { trace } = simulate(limit, gaps);
        for (const { at, cost, before, decision } of trace) {
          if (decision.allowed) {
            expect(decision.retryAfterMs).toBe(0);
            continue;
          }
          if (decision.retryAfterMs === Number.POSITIVE_INFINITY) continue;
          expect(Number.isInteger(decision.retryAfterMs)).toBe(true);
          expect(decision.retryAfterMs).toBeGreaterThanOrEqual(1);
          expect(step(before as never, at + decision.retryAfterMs, limit, cost).decision.allowed).toBe(true);
          if (decision.retryAfterMs > 1) {
            expect(step(before as never, at + decision.retryAfterMs - 1, limit, cost).decision.allowed).toBe(
              false,
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('Infinity only for a cost above the capacity', () => {
    fc.assert(
      fc.property(anyLimit, arrivals(false), (limit, gaps) => {
        for (const { cost, decision } of simulate(limit, gaps).trace) {
          expect(decision.retryAfterMs === Number.POSITIVE_INFINITY).toBe(cost > decision.limit + 1e-9);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('remaining and resetAfterMs are whole, non-negative numbers', () => {
    fc.assert(
      fc.property(anyLimit, arrivals(false), (limit, gaps) => {
        for (const { decision } of simulate(limit, gaps).trace) {
          expect(Number.isInteger(decision.remaining) && decision.remaining >= 0).toBe(true);
          expect(Number.isInteger(decision.resetAfterMs) && decision.resetAfterMs >= 0).toBe(true);
          expect(decision.remaining).toBeLessThanOrEqual(decision.limit + 1e-9);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a fresh token bucket admits exactly ⌊burst⌋ unit requests at one instant, whatever the rate', () => {
    fc.assert(
      fc.property(tokenBuckets, fc.integer({ min: 0, max: 10 ** 6 }), (limit, offset) => {
        const gaps: [number, number][] = Array.from({ length: Math.ceil(limit.burst) + 2 }, () => [0, 1]);
        const { admitted } = simulate(limit, gaps, T0 + offset);
        // Capacities within float dust (1e-9) of a whole number count as that number.
        expect(admitted).toHaveLength(Math.floor(limit.burst + 1e-9));
      }),
      { numRuns: 500 },
    );
  });

  it('is deterministic: the same inputs give the same decision', () => {
    fc.assert(
      fc.property(anyLimit, arrivals(false), (limit, gaps) => {
        const a = simulate(limit, gaps).trace.map((t) => t.decision);
        const b = simulate(limit, gaps).trace.map((t) => t.decision);
        expect(a).toEqual(b);
      }),
      { numRuns: 50 },
    );
  });
});
