import type { Duration } from '../core/duration.js';
import { parsePositiveDuration } from '../core/duration.js';
import { fail, knownKeys, optionsObject } from '../internal/describe.js';

/**
 * A custom jitter: given the capped exponential delay, the attempt number (from 1) and the random source,
 * returns the delay in milliseconds. The result is rounded and clamped into `[0, cap]`.
 *
 * @example
 * ```ts
 * const tenPercent: JitterFunction = (exponentialMs, _attempt, random) => exponentialMs * (0.9 + 0.1 * random());
 * ```
 */
export type JitterFunction = (exponentialMs: number, attempt: number, random: () => number) => number;

/**
 * How a delay is randomised (AWS architecture blog, "Exponential Backoff And Jitter"):
 * - `full`: `random × exponential` (the default: the fewest collisions);
 * - `equal`: `exponential / 2 + random × exponential / 2`;
 * - `decorrelated`: `min(cap, random_between(base, previous × 3))`;
 * - `none`: `exponential`;
 * - a {@link JitterFunction}.
 *
 * @example
 * ```ts
 * const jitter: Jitter = 'equal';
 * ```
 */
export type Jitter = 'full' | 'equal' | 'decorrelated' | 'none' | JitterFunction;

/**
 * Options of {@link createBackoff}.
 *
 * @example
 * ```ts
 * const options: BackoffOptions = { base: '500ms', cap: '20s', factor: 2, jitter: 'full' };
 * ```
 */
export interface BackoffOptions {
  /**
   * The first delay before jitter: a duration of whole milliseconds.
   * @default '1s'
   * @example '250ms'
   */
  base?: Duration;
  /**
   * The largest delay; the exponential is capped before the jitter is applied. At least `base`.
   * @default '30s' (or `base`, if larger)
   * @example '1m'
   */
  cap?: Duration;
  /**
   * The growth of the delay per attempt: a finite number ≥ 1 (`1` gives a constant delay).
   * @default 2
   * @example 3
   */
  factor?: number;
  /**
   * How the delay is randomised; see {@link Jitter}.
   * @default 'full'
   * @example 'none'
   */
  jitter?: Jitter;
}

/**
 * Backoff options after validation, in milliseconds.
 *
 * @example
 * ```ts
 * const backoff: NormalizedBackoff = createBackoff({ base: '1s' }); // { baseMs: 1000, capMs: 30000, ... }
 * ```
 */
export interface NormalizedBackoff {
  /** The first delay before jitter, in ms (a whole number ≥ 1). */
  readonly baseMs: number;
  /** The largest delay, in ms (a whole number ≥ `baseMs`). */
  readonly capMs: number;
  /** The growth per attempt (≥ 1). */
  readonly factor: number;
  /** The jitter mode or function. */
  readonly jitter: Jitter;
}

/**
 * The state carried from one {@link nextDelay} call to the next.
 *
 * @example
 * ```ts
 * const state: BackoffState = { attempt: 1, previousMs: 1000 };
 * ```
 */
export interface BackoffState {
  /** The attempt number of the delay last computed (from 1). */
  readonly attempt: number;
  /** The delay last computed, in ms (used by `decorrelated` jitter). */
  readonly previousMs: number;
}

const OPTIONS = ['base', 'cap', 'factor', 'jitter'] as const;
const MODES: readonly string[] = ['full', 'equal', 'decorrelated', 'none'];
const WHOLE_MS = 'a positive duration of whole milliseconds (like "250ms", "1s")';

function wholeMs(path: string, value: unknown): number {
  const ms = parsePositiveDuration(value, path);
  if (!Number.isInteger(ms)) fail(path, WHOLE_MS, value);
  return ms;
}

/**
 * Validates backoff options once and returns them in milliseconds. Throws a `ConfigError` naming the option
 * at fault.
 *
 * @example
 * ```ts
 * const backoff = createBackoff({ base: '1s', cap: '30s', jitter: 'full' });
 * createBackoff({ factor: 0.5 }); // throws: Expected `factor` to be a finite number ≥ 1, got `0.5` (number)
 * ```
 */
export function createBackoff(options: BackoffOptions = {}): NormalizedBackoff {
  const raw = optionsObject('backoff', options);
  knownKeys('backoff options', raw, OPTIONS);
  const baseMs = wholeMs('base', options.base ?? '1s');
  const capMs = wholeMs('cap', options.cap ?? Math.max(30_000, baseMs));
  if (capMs < baseMs) fail('cap', `a duration ≥ \`base\` (${baseMs} ms)`, options.cap);
  const factor = options.factor ?? 2;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) {
    fail('factor', 'a finite number ≥ 1', factor);
  }
  const jitter = options.jitter ?? 'full';
  if (typeof jitter !== 'function' && !MODES.includes(jitter as string)) {
    fail('jitter', '"full", "equal", "decorrelated", "none" or a function', jitter);
  }
  return { baseMs, capMs, factor, jitter };
}

/**
 * The capped exponential delay of an attempt, before jitter: `min(cap, base × factor^(attempt − 1))`.
 * Finite for any attempt number (a huge one gives `cap`).
 *
 * @example
 * ```ts
 * exponentialDelayMs(3, createBackoff({ base: '1s' })); // 4000
 * exponentialDelayMs(1e9, createBackoff({ base: '1s' })); // 30000
 * ```
 */
export function exponentialDelayMs(attempt: number, backoff: NormalizedBackoff): number {
  const raw = backoff.baseMs * backoff.factor ** Math.max(0, attempt - 1);
  return Number.isFinite(raw) ? Math.min(backoff.capMs, raw) : backoff.capMs;
}

function draw(random: () => number): number {
  const value = random();
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) fail('random()', 'a number in [0, 1)', value);
  return value;
}

function jittered(
  attempt: number,
  previousMs: number,
  backoff: NormalizedBackoff,
  random: () => number,
): number {
  const exponential = exponentialDelayMs(attempt, backoff);
  const { jitter, baseMs, capMs } = backoff;
  switch (jitter) {
    case 'none':
      return exponential;
    case 'full':
      return draw(random) * exponential;
    case 'equal':
      return exponential / 2 + (draw(random) * exponential) / 2;
    case 'decorrelated': {
      const upper = Math.max(baseMs, Math.min(capMs, previousMs) * 3);
      return Math.min(capMs, baseMs + draw(random) * (upper - baseMs));
    }
    default: {
      const value = jitter(exponential, attempt, random);
      if (typeof value !== 'number' || Number.isNaN(value)) fail('jitter(…)', 'a number of ms', value);
      return value;
    }
  }
}

/**
 * One pure backoff step: the delay before the next attempt and the state to pass to the following call.
 * Start with `state` undefined (attempt 1). The delay is a whole number of ms in `[0, cap]`, jitter applied
 * after the cap. `random` must return numbers in `[0, 1)` (inject a seeded source in tests).
 *
 * @example
 * ```ts
 * const backoff = createBackoff({ base: '1s', jitter: 'none' });
 * const first = nextDelay(undefined, backoff, Math.random); // { delayMs: 1000, state: { attempt: 1, ... } }
 * const second = nextDelay(first.state, backoff, Math.random); // delayMs: 2000
 * ```
 */
export function nextDelay(
  state: BackoffState | undefined,
  options: NormalizedBackoff,
  random: () => number,
): { delayMs: number; state: BackoffState } {
  const attempt = (state?.attempt ?? 0) + 1;
  const previousMs = state !== undefined && state.previousMs >= 0 ? state.previousMs : options.baseMs;
  const value = jittered(attempt, previousMs, options, random);
  const delayMs = Math.round(Math.min(options.capMs, Math.max(0, value)));
  return { delayMs, state: { attempt, previousMs: delayMs } };
}
