import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RECOVER_EVERY } from './client-adapt.js';
import { createPacer, type Pacer, type RateChange, REPEAT_WINDOW_MS } from './client-pacer.js';

/** A server token bucket (`rate` per second, `burst` tokens), refilled continuously, as the test's server. */
function bucket(rate: number, burst: number) {
  let tokens = burst;
  let lastMs = 0;
  return {
    /** A request at `nowMs`: takes a token when there is one; reports the whole tokens left. */
    take(nowMs: number) {
      tokens = Math.min(burst, tokens + ((nowMs - lastMs) * rate) / 1000);
      lastMs = nowMs;
      const spent = tokens >= 1;
      if (spent) tokens -= 1;
      return { spent, remaining: Math.floor(tokens), waitMs: Math.ceil(((1 - tokens) * 1000) / rate) };
    },
  };
}

/** Observes `count` responses `stepMs` apart, each spending one token while `remaining` stays put. */
function steady(pacer: Pacer, count: number, stepMs: number, remaining: number, limit = 60) {
  for (let i = 0; i < count; i++) pacer.observe(i * stepMs, { remaining, limit }, true);
}

/** Starts every `stepMs` from 0 (the measured start rate is 1000 / stepMs per second). */
function startEvery(pacer: Pacer, count: number, stepMs: number) {
  for (let i = 0; i < count; i++) pacer.started(i * stepMs);
}

describe('createPacer: refill estimate', () => {
  it('converges to the refill rate of a bucket that a client spends at 25/s', () => {
    const pacer = createPacer(0.9);
    const server = bucket(10, 60);
    const estimates: (number | undefined)[] = [];
    for (let t = 0; t <= 20_000; t += 40) {
      const { spent, remaining } = server.take(t);
      pacer.observe(t, { remaining, limit: 60 }, spent);
      estimates.push(pacer.refillPerSecond());
    }
    expect(estimates[0]).toBeUndefined();
    // Within 5 % of 10/s from 5 s on (the bucket is empty after 4 s), within 1 % at the end.
    for (const estimate of estimates.slice(125)) {
      expect(estimate).toBeGreaterThan(9.5);
      expect(estimate).toBeLessThan(10.5);
    }
    expect(Math.abs(estimates[estimates.length - 1]! - 10)).toBeLessThan(0.1);
  });

  it('is exact on steady samples: remaining constant, one token spent per 100 ms is a refill of 10/s', () => {
    const pacer = createPacer(0.9);
    steady(pacer, 8, 100, 10);
    expect(pacer.refillPerSecond()).toBeCloseTo(10, 9);
  });

  it('needs 8 samples and a refill of at least 3', () => {
    const pacer = createPacer(0.9);
    steady(pacer, 7, 100, 10);
    expect(pacer.refillPerSecond()).toBeUndefined();
    pacer.observe(700, { remaining: 10, limit: 60 }, true);
    expect(pacer.refillPerSecond()).toBeCloseTo(10, 9);

    const slow = createPacer(0.9);
    // 8 samples, 2 spent after the first and no change of remaining: a refill of 2 < 3.
    for (let i = 0; i < 8; i++) slow.observe(i * 100, { remaining: 10, limit: 60 }, i === 3 || i === 6);
    expect(slow.refillPerSecond()).toBeUndefined();
  });

  it('a full budget restarts the samples (the refill is hidden while capped)', () => {
    const pacer = createPacer(0.9);
    steady(pacer, 8, 100, 10);
    expect(pacer.refillPerSecond()).toBeCloseTo(10, 9);
    pacer.observe(800, { remaining: 60, limit: 60 }, true);
    expect(pacer.refillPerSecond()).toBeUndefined();
  });

  it('a jump up of more than 12 (a window reset) restarts the samples, a rise of 12 does not', () => {
    const jumped = createPacer(0.9);
    steady(jumped, 8, 100, 10);
    jumped.observe(800, { remaining: 23, limit: 60 }, true);
    expect(jumped.refillPerSecond()).toBeUndefined();

    const rose = createPacer(0.9);
    steady(rose, 8, 100, 10);
    rose.observe(800, { remaining: 22, limit: 60 }, true);
    // From the first sample: remaining +12, spent +8, over 800 ms.
    expect(rose.refillPerSecond()).toBeCloseTo(25, 9);
  });
});

describe('createPacer: refill spacing', () => {
  it('is 0 before any report and while remaining is above the low-water mark', () => {
    const pacer = createPacer(0.9);
    expect(pacer.spacingMs(5)).toBe(0);
    steady(pacer, 8, 100, 11); // low water for 60 at concurrency 5: max(2 × 5, 6) = 10
    expect(pacer.refillPerSecond()).toBeCloseTo(10, 9);
    expect(pacer.spacingMs(5)).toBe(0);
    expect(pacer.spacingMs(Number.POSITIVE_INFINITY)).toBe(0);
  });

  it('at or below the low-water mark, spaces starts at the refill × margin, slower as remaining falls', () => {
    const pacer = createPacer(0.9);
    steady(pacer, 8, 100, 10);
    expect(pacer.spacingMs(5)).toBeCloseTo(1000 / (10 * 0.9), 6); // remaining 10 = low water: factor 1
    const low = createPacer(0.9);
    steady(low, 8, 100, 5);
    expect(low.spacingMs(5)).toBeCloseTo(1000 / (10 * 0.9 * 0.5), 6);
    const empty = createPacer(0.9);
    steady(empty, 8, 100, 0);
    expect(empty.spacingMs(5)).toBeCloseTo(1000 / (10 * 0.9 * 0.25), 6); // never below a quarter
    // Unbounded concurrency keeps a reserve of 4, here ⌈0.1 × 60⌉ = 6: remaining 5 is below it.
    expect(low.spacingMs(Number.POSITIVE_INFINITY)).toBeCloseTo(1000 / (10 * 0.9 * (5 / 6)), 6);
  });

  it('without an estimate, spreads the remaining budget over the time to its reset, or the time observed', () => {
    const pacer = createPacer(0.9);
    pacer.observe(0, { remaining: 60, limit: 60 }, true);
    pacer.observe(10, { remaining: 4, limit: 60, resetAfterMs: 9_000 }, true);
    expect(pacer.refillPerSecond()).toBeUndefined();
    expect(pacer.spacingMs(5)).toBeCloseTo(9_000 / (4 * 0.9), 6);
    pacer.observe(20, { remaining: 0, limit: 60, resetAfterMs: 500 }, true);
    expect(pacer.spacingMs(5)).toBe(500); // at least one request's worth
    pacer.observe(30, { remaining: 0, limit: 60 }, true);
    // No estimate and no reset: what is left over the time observed so far (samples from 0 to 30 ms).
    expect(pacer.spacingMs(5)).toBe(30);
    pacer.observe(40, { remaining: 3, limit: 60 }, true);
    expect(pacer.spacingMs(5)).toBe(40 / 3);
  });

  it('with no samples span yet, does not space', () => {
    const pacer = createPacer(0.9);
    pacer.observe(0, { remaining: 60, limit: 60 }, true);
    pacer.observe(0, { remaining: 2, limit: 60 }, true);
    expect(pacer.spacingMs(5)).toBe(0);
  });
});

describe('createPacer: AIMD on repeated 429', () => {
  it('ignores a first 429; a second within REPEAT_WINDOW_MS halves the measured start rate; a third halves again', () => {
    const pacer = createPacer(0.9);
    startEvery(pacer, 11, 100); // 10 intervals over 1 s: 10/s
    expect(pacer.onThrottle(1_000)).toBeUndefined();
    expect(pacer.rateCap()).toBeUndefined();
    expect(pacer.spacingMs(5)).toBe(0);
    expect(pacer.onThrottle(1_000 + REPEAT_WINDOW_MS)).toEqual({ to: 5, reason: 'throttled' });
    expect(pacer.rateCap()).toBe(5);
    expect(pacer.spacingMs(5)).toBe(200);
    expect(pacer.onThrottle(2_000 + REPEAT_WINDOW_MS)).toEqual({ from: 5, to: 2.5, reason: 'throttled' });
    expect(pacer.spacingMs(5)).toBe(400);
  });

  it('a 429 more than REPEAT_WINDOW_MS after the last is not repeated; none cut without measured starts', () => {
    const pacer = createPacer(0.9);
    startEvery(pacer, 11, 100);
    pacer.onThrottle(0);
    expect(pacer.onThrottle(REPEAT_WINDOW_MS + 1)).toBeUndefined();
    expect(pacer.rateCap()).toBeUndefined();

    const idle = createPacer(0.9);
    idle.started(0);
    idle.onThrottle(0);
    expect(idle.onThrottle(10)).toBeUndefined();
  });

  it('recovers a tenth of the original rate per RECOVER_EVERY successes, then lifts the cut', () => {
    const pacer = createPacer(0.9);
    startEvery(pacer, 11, 100);
    pacer.onThrottle(1_000);
    pacer.onThrottle(1_001);
    pacer.onThrottle(1_002); // 10 → 5 → 2.5
    const changes: (RateChange | undefined)[] = [];
    for (let i = 0; i < 9 * RECOVER_EVERY; i++) {
      const change = pacer.onSuccess();
      if ((i + 1) % RECOVER_EVERY !== 0) expect(change).toBeUndefined();
      else changes.push(change);
    }
    const tos = changes.map((c) => c?.to);
    expect(tos.slice(0, 7).map((to) => Number(to?.toFixed(9)))).toEqual([3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]);
    expect(changes[7]).toEqual({ from: expect.closeTo(9.5, 9), reason: 'recovery' });
    expect(changes[7]).not.toHaveProperty('to');
    expect(changes[8]).toBeUndefined();
    expect(pacer.rateCap()).toBeUndefined();
    expect(pacer.spacingMs(5)).toBe(0);
    expect(pacer.onSuccess()).toBeUndefined();
  });

  it('after one cut, recovery takes exactly 5 rounds of RECOVER_EVERY, whatever the rate (no float drift)', () => {
    for (const stepMs of [125, 300, 400, 700]) {
      const pacer = createPacer(0.9);
      startEvery(pacer, 11, stepMs);
      pacer.onThrottle(10 * stepMs);
      expect(pacer.onThrottle(10 * stepMs + 1)).toEqual({
        to: expect.closeTo(500 / stepMs, 9),
        reason: 'throttled',
      });
      for (let i = 0; i < 5 * RECOVER_EVERY; i++) pacer.onSuccess();
      expect({ stepMs, cap: pacer.rateCap() }).toEqual({ stepMs, cap: undefined });
    }
  });
});

describe('createPacer: properties', () => {
  it('spacing is always finite and ≥ 0, whatever is observed', () => {
    const report = fc.record(
      {
        remaining: fc.integer({ min: 0, max: 1_000 }),
        limit: fc.integer({ min: 1, max: 1_000 }),
        resetAfterMs: fc.integer({ min: 0, max: 100_000 }),
      },
      { requiredKeys: ['remaining'] },
    );
    const step = fc.oneof(
      fc.tuple(fc.constant('observe' as const), fc.nat(5_000), report, fc.boolean()),
      fc.tuple(fc.constant('start' as const), fc.nat(5_000)),
      fc.tuple(fc.constant('throttle' as const), fc.nat(5_000)),
      fc.tuple(fc.constant('success' as const)),
    );
    const concurrency = fc.oneof(fc.integer({ min: 1, max: 50 }), fc.constant(Number.POSITIVE_INFINITY));
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        concurrency,
        fc.array(step),
        (m, c, steps) => {
          const pacer = createPacer(m);
          let nowMs = 0;
          for (const s of steps) {
            if (s[0] !== 'success') nowMs += s[1];
            if (s[0] === 'observe') pacer.observe(nowMs, s[2], s[3]);
            else if (s[0] === 'start') pacer.started(nowMs);
            else if (s[0] === 'throttle') pacer.onThrottle(nowMs);
            else pacer.onSuccess();
            const spacing = pacer.spacingMs(c);
            if (!(Number.isFinite(spacing) && spacing >= 0)) return false;
          }
          return true;
        },
      ),
    );
  });

  it('a client that follows the spacing (and waits out each 429) is throttled at most 3 times in a minute', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 2, max: 120 }),
        fc.double({ min: 0.5, max: 0.98, noNaN: true }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 8 }),
        (rate, burst, margin, latencyMs, concurrency) => {
          const pacer = createPacer(margin);
          const server = bucket(rate, burst);
          let throttles = 0;
          let lastStartMs = Number.NEGATIVE_INFINITY;
          for (let t = 0; t < 60_000; ) {
            const startMs = Math.max(t, lastStartMs + pacer.spacingMs(concurrency));
            lastStartMs = startMs;
            pacer.started(startMs);
            const { spent, remaining, waitMs } = server.take(startMs);
            expect(remaining).toBeGreaterThanOrEqual(0);
            pacer.observe(startMs + latencyMs, { remaining, limit: burst }, spent);
            t = startMs + latencyMs + (spent ? 0 : waitMs);
            if (!spent) throttles++;
          }
          expect(throttles).toBeLessThanOrEqual(3);
          // Never well above the true refill (that would run the bucket dry); close to it when the bucket is
          // large enough to stay below full and the client (one at a time) can outpace the refill: a bucket
          // at its cap hides part of its refill.
          const estimate = pacer.refillPerSecond() ?? 0;
          expect(estimate).toBeLessThan(rate * 1.1);
          if (burst >= 20 && 1000 / latencyMs > 1.5 * rate) expect(estimate).toBeGreaterThan(rate * 0.9);
        },
      ),
      { numRuns: 200 },
    );
  });
});
