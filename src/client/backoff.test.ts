import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import {
  type BackoffOptions,
  type BackoffState,
  createBackoff,
  exponentialDelayMs,
  type Jitter,
  nextDelay,
} from './backoff.js';

/** A seeded linear congruential generator: deterministic numbers in [0, 1). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const constant = (value: number) => () => value;

/** The first `count` delays of a backoff. */
function delays(options: BackoffOptions, random: () => number, count: number): number[] {
  const backoff = createBackoff(options);
  let state: BackoffState | undefined;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const step = nextDelay(state, backoff, random);
    out.push(step.delayMs);
    state = step.state;
  }
  return out;
}

describe('createBackoff', () => {
  it('defaults to base 1s, cap 30s, factor 2, full jitter', () => {
    expect(createBackoff()).toEqual({ baseMs: 1000, capMs: 30_000, factor: 2, jitter: 'full' });
    expect(createBackoff({ base: '250ms', cap: '1m', factor: 3, jitter: 'none' })).toEqual({
      baseMs: 250,
      capMs: 60_000,
      factor: 3,
      jitter: 'none',
    });
  });

  it('raises the default cap to a larger base', () => {
    expect(createBackoff({ base: '1m' }).capMs).toBe(60_000);
  });

  it.each([
    [{ base: 'ten' }, 'base'],
    [{ base: 0 }, 'base'],
    [{ base: '1.5ms' }, 'base'],
    [{ cap: -1 }, 'cap'],
    [{ base: '2s', cap: '1s' }, 'cap'],
    [{ factor: 0.5 }, 'factor'],
    [{ factor: Number.POSITIVE_INFINITY }, 'factor'],
    [{ jitter: 'fuul' as Jitter }, 'jitter'],
    [{ bse: '1s' } as BackoffOptions, 'bse'],
  ])('refuses %o, naming `%s`', (options, path) => {
    expect(() => createBackoff(options)).toThrow(ConfigError);
    try {
      createBackoff(options);
    } catch (error) {
      expect((error as ConfigError).path).toBe(path);
      expect((error as ConfigError).message).toContain(`\`${path}\``);
    }
  });

  it('says what it expected and what it got', () => {
    expect(() => createBackoff({ factor: 0.5 })).toThrow(
      'Expected `factor` to be a finite number ≥ 1, got `0.5` (number)',
    );
  });
});

describe('nextDelay: exact sequences with random ≡ 0.5 (base 1s, cap 30s, factor 2)', () => {
  const half = constant(0.5);

  it('none: the capped exponential', () => {
    expect(delays({ jitter: 'none' }, half, 8)).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('full: random × exponential', () => {
    expect(delays({ jitter: 'full' }, half, 7)).toEqual([500, 1000, 2000, 4000, 8000, 15_000, 15_000]);
  });

  it('equal: exponential / 2 + random × exponential / 2', () => {
    expect(delays({ jitter: 'equal' }, half, 7)).toEqual([750, 1500, 3000, 6000, 12_000, 22_500, 22_500]);
  });

  it('decorrelated: min(cap, random_between(base, previous × 3))', () => {
    expect(delays({ jitter: 'decorrelated' }, half, 8)).toEqual([
      2000, 3500, 5750, 9125, 14_188, 21_782, 30_000, 30_000,
    ]);
  });

  it('a custom function gets the capped exponential, the attempt and the random source', () => {
    const seen: [number, number][] = [];
    const jitter: Jitter = (exponentialMs, attempt, random) => {
      seen.push([exponentialMs, attempt]);
      return exponentialMs * (0.9 + 0.1 * random());
    };
    expect(delays({ jitter, cap: '4s' }, constant(0), 4)).toEqual([900, 1800, 3600, 3600]);
    expect(seen).toEqual([
      [1000, 1],
      [2000, 2],
      [4000, 3],
      [4000, 4],
    ]);
  });

  it('clamps a custom function into [0, cap] and refuses NaN', () => {
    expect(delays({ jitter: () => -50, cap: '2s' }, half, 1)).toEqual([0]);
    expect(delays({ jitter: () => 1e12, cap: '2s' }, half, 1)).toEqual([2000]);
    expect(() => delays({ jitter: () => Number.NaN }, half, 1)).toThrow(ConfigError);
  });

  it('refuses a random source outside [0, 1]', () => {
    expect(() => delays({}, constant(1.5), 1)).toThrow(ConfigError);
    expect(() => delays({}, constant(Number.NaN), 1)).toThrow(ConfigError);
  });

  it('counts attempts from 1 and carries the delay in the state', () => {
    const backoff = createBackoff({ jitter: 'none' });
    const first = nextDelay(undefined, backoff, half);
    expect(first).toEqual({ delayMs: 1000, state: { attempt: 1, previousMs: 1000 } });
    expect(nextDelay(first.state, backoff, half)).toEqual({
      delayMs: 2000,
      state: { attempt: 2, previousMs: 2000 },
    });
  });
});

describe('nextDelay: cap, bounds and overflow', () => {
  it('applies the cap before the jitter', () => {
    const backoff = createBackoff({ base: '1s', cap: '5s', jitter: 'full' });
    // Capped then jittered: 0.99 × 5000. Jittered then capped would give 5000 (0.99 × 512000, capped).
    expect(nextDelay({ attempt: 9, previousMs: 0 }, backoff, constant(0.99)).delayMs).toBe(4950);
    const equal = createBackoff({ base: '1s', cap: '5s', jitter: 'equal' });
    expect(nextDelay({ attempt: 9, previousMs: 0 }, equal, constant(0)).delayMs).toBe(2500);
  });

  it('keeps decorrelated delays within [base, min(cap, previous × 3)]', () => {
    const backoff = createBackoff({ base: '100ms', cap: '10s', jitter: 'decorrelated' });
    const random = lcg(42);
    let state: BackoffState | undefined;
    for (let i = 0; i < 2000; i++) {
      const previousMs = state?.previousMs ?? 100;
      const step = nextDelay(state, backoff, random);
      expect(step.delayMs).toBeGreaterThanOrEqual(100);
      expect(step.delayMs).toBeLessThanOrEqual(Math.min(10_000, Math.round(previousMs * 3)));
      state = step.state;
    }
  });

  it('stays finite for huge attempt numbers', () => {
    for (const jitter of ['full', 'equal', 'decorrelated', 'none'] as const) {
      const backoff = createBackoff({ jitter, factor: 10 });
      for (const attempt of [1075, 1e6, Number.MAX_SAFE_INTEGER, 1e308, Number.MAX_VALUE]) {
        const { delayMs } = nextDelay({ attempt, previousMs: 30_000 }, backoff, constant(0.5));
        expect(Number.isFinite(delayMs)).toBe(true);
        expect(delayMs).toBeLessThanOrEqual(30_000);
      }
    }
    expect(exponentialDelayMs(1e9, createBackoff())).toBe(30_000);
    expect(exponentialDelayMs(1e9, createBackoff({ factor: 1 }))).toBe(1000);
  });

  it('property: every delay is a whole number of ms in [0, cap], for any options, state and random', () => {
    const jitter = fc.oneof(
      fc.constantFrom<Jitter>('full', 'equal', 'decorrelated', 'none'),
      fc.constant<Jitter>((exponentialMs, attempt, random) => exponentialMs * random() * 3 - attempt),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 0, max: 100_000_000 }),
        fc.double({ min: 1, max: 1000, noNaN: true }),
        jitter,
        fc.option(
          fc.record({
            attempt: fc.oneof(
              fc.integer({ min: 0, max: 100 }),
              fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
            ),
            previousMs: fc.double({ min: 0, noNaN: true }),
          }),
          { nil: undefined },
        ),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (baseMs, extraMs, factor, jitterMode, state, value) => {
          const backoff = createBackoff({ base: baseMs, cap: baseMs + extraMs, factor, jitter: jitterMode });
          const { delayMs, state: next } = nextDelay(state, backoff, () => value);
          expect(Number.isInteger(delayMs)).toBe(true);
          expect(delayMs).toBeGreaterThanOrEqual(0);
          expect(delayMs).toBeLessThanOrEqual(backoff.capMs);
          expect(next.previousMs).toBe(delayMs);
        },
      ),
    );
  });
});
