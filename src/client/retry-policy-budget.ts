import { nowMs as checkNowMs, fail, knownKeys, optionsObject } from '../internal/describe.js';

/**
 * Options of {@link createRetryBudget}.
 *
 * @example
 * ```ts
 * const options: RetryBudgetOptions = { ratio: 0.2, minPerSecond: 3 };
 * ```
 */
export interface RetryBudgetOptions {
  /**
   * Retries earned per recorded request: `0.2` allows retries of at most 20 % of requests.
   * @default 0.2
   * @example 0.1
   */
  ratio?: number;
  /**
   * Retries earned per second regardless of traffic, so that a quiet client can still retry.
   * @default 3
   * @example 1
   */
  minPerSecond?: number;
  /**
   * The most retries that can be banked (and spent at once after a quiet spell); the budget starts full.
   * @default 10 (or `minPerSecond`, if larger)
   * @example 20
   */
  maxTokens?: number;
}

/**
 * A retry budget after validation.
 *
 * @example
 * ```ts
 * const config: RetryBudgetConfig = normalizeRetryBudget({ ratio: 0.2 }); // { ratio: 0.2, minPerSecond: 3, maxTokens: 10 }
 * ```
 */
export interface RetryBudgetConfig {
  /** Retry tokens earned per recorded request. */
  readonly ratio: number;
  /** Retry tokens earned per second. */
  readonly minPerSecond: number;
  /** The most tokens banked. */
  readonly maxTokens: number;
}

/**
 * The state of a retry budget: the tokens banked at `updatedMs`.
 *
 * @example
 * ```ts
 * const state: RetryBudgetState = { tokens: 10, updatedMs: 0 };
 * ```
 */
export interface RetryBudgetState {
  /** Retries available (fractional). */
  readonly tokens: number;
  /** When `tokens` was computed, in ms. */
  readonly updatedMs: number;
}

const OPTIONS = ['ratio', 'minPerSecond', 'maxTokens'] as const;
const EPSILON = 1e-9;

function nonNegative(path: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    fail(path, 'a finite number ≥ 0', value);
  return value;
}

/**
 * Validates retry budget options. Throws a `ConfigError` naming the option at fault.
 *
 * @example
 * ```ts
 * normalizeRetryBudget({ ratio: 0.2, minPerSecond: 3 }); // { ratio: 0.2, minPerSecond: 3, maxTokens: 10 }
 * normalizeRetryBudget({ ratio: -1 }); // throws: Expected `ratio` to be a finite number ≥ 0, got `-1` (number)
 * ```
 */
export function normalizeRetryBudget(options: RetryBudgetOptions = {}): RetryBudgetConfig {
  knownKeys('retry budget options', optionsObject('retryBudget', options), OPTIONS);
  const ratio = nonNegative('ratio', options.ratio ?? 0.2);
  const minPerSecond = nonNegative('minPerSecond', options.minPerSecond ?? 3);
  const maxTokens = options.maxTokens ?? Math.max(10, minPerSecond);
  if (typeof maxTokens !== 'number' || !Number.isFinite(maxTokens) || maxTokens < 1) {
    fail('maxTokens', 'a finite number ≥ 1', maxTokens);
  }
  return { ratio, minPerSecond, maxTokens };
}

function refill(
  state: RetryBudgetState | undefined,
  nowMs: number,
  config: RetryBudgetConfig,
): RetryBudgetState {
  checkNowMs(nowMs);
  if (state === undefined) return { tokens: config.maxTokens, updatedMs: nowMs };
  const elapsedMs = Math.max(0, nowMs - state.updatedMs);
  const tokens = Math.min(config.maxTokens, state.tokens + (elapsedMs / 1000) * config.minPerSecond);
  return { tokens, updatedMs: Math.max(nowMs, state.updatedMs) };
}

/**
 * Pure step: a request (a first attempt, not a retry) was sent at `nowMs`; it earns `ratio` retry tokens.
 *
 * @example
 * ```ts
 * const config = normalizeRetryBudget();
 * const state = budgetRecordRequest(undefined, 0, config);
 * ```
 */
export function budgetRecordRequest(
  state: RetryBudgetState | undefined,
  nowMs: number,
  config: RetryBudgetConfig,
): RetryBudgetState {
  const current = refill(state, nowMs, config);
  return { tokens: Math.min(config.maxTokens, current.tokens + config.ratio), updatedMs: current.updatedMs };
}

/**
 * Pure step: may a retry be sent at `nowMs`? When allowed, it spends one token.
 *
 * @example
 * ```ts
 * const config = normalizeRetryBudget({ maxTokens: 1, minPerSecond: 0 });
 * const first = budgetTryRetry(undefined, 0, config); // { allowed: true, state: { tokens: 0, ... } }
 * budgetTryRetry(first.state, 0, config).allowed; // false
 * ```
 */
export function budgetTryRetry(
  state: RetryBudgetState | undefined,
  nowMs: number,
  config: RetryBudgetConfig,
): { allowed: boolean; state: RetryBudgetState } {
  const current = refill(state, nowMs, config);
  if (current.tokens < 1 - EPSILON) return { allowed: false, state: current };
  return { allowed: true, state: { tokens: Math.max(0, current.tokens - 1), updatedMs: current.updatedMs } };
}

/**
 * A retry budget bound to its own state (see {@link createRetryBudget}).
 *
 * @example
 * ```ts
 * const budget: RetryBudget = createRetryBudget();
 * ```
 */
export interface RetryBudget {
  /** Records a request (a first attempt; retries are not recorded) sent at `nowMs`. */
  recordRequest(nowMs: number): void;
  /** Spends a token and answers `true` when a retry may be sent at `nowMs`; `false` otherwise. */
  tryRetry(nowMs: number): boolean;
  /** The retries available at `nowMs` (fractional), without spending any. */
  available(nowMs: number): number;
}

/**
 * A retry budget that stops retry storms during an outage, like Finagle's and gRPC's retry throttling: a
 * token bucket of retries that starts full (`maxTokens`), earns `ratio` tokens per request and
 * `minPerSecond` tokens per second (never above `maxTokens`), and spends one token per retry. Over any
 * period, retries ≤ `maxTokens + ratio × requests + minPerSecond × seconds`; when the outage ends, the
 * budget refills. Time is injected (`nowMs`); the steps are the pure {@link budgetRecordRequest} and
 * {@link budgetTryRetry}.
 *
 * @example
 * ```ts
 * const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 3 });
 * budget.recordRequest(clock.now());
 * if (decision.retry && budget.tryRetry(clock.now())) await sleep(decision.delayMs);
 * ```
 */
export function createRetryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  const config = normalizeRetryBudget(options);
  let state: RetryBudgetState | undefined;
  return {
    recordRequest(nowMs) {
      state = budgetRecordRequest(state, nowMs, config);
    },
    tryRetry(nowMs) {
      const result = budgetTryRetry(state, nowMs, config);
      state = result.state;
      return result.allowed;
    },
    available(nowMs) {
      return refill(state, nowMs, config).tokens;
    },
  };
}
