import type { Duration } from '../core/duration.js';
import { parseDuration, parsePositiveDuration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { describe, fail, integerAtLeast, knownKeys, optionsObject } from '../internal/describe.js';
import { type BackoffOptions, createBackoff, type NormalizedBackoff, nextDelay } from './backoff.js';

/**
 * Statuses retried by default: 408, 429, 500, 502, 503, 504.
 *
 * @example
 * ```ts
 * createRetryPolicy({ statuses: [...DEFAULT_RETRY_STATUSES, 249] });
 * ```
 */
export const DEFAULT_RETRY_STATUSES: readonly number[] = Object.freeze([408, 429, 500, 502, 503, 504]);

/**
 * Statuses never retried, and refused in `statuses`: validation and auth errors that a retry cannot fix.
 *
 * @example
 * ```ts
 * NEVER_RETRY_STATUSES.includes(422); // true
 * ```
 */
export const NEVER_RETRY_STATUSES: readonly number[] = Object.freeze([400, 401, 403, 404, 422]);

/**
 * Methods retried by default: the idempotent ones.
 *
 * @example
 * ```ts
 * createRetryPolicy({ methods: [...IDEMPOTENT_METHODS, 'PATCH'] });
 * ```
 */
export const IDEMPOTENT_METHODS: readonly string[] = Object.freeze([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
]);

/**
 * Options of {@link createRetryPolicy}.
 *
 * @example
 * ```ts
 * const options: RetryPolicyOptions = { statuses: [249, 408, 429, 500, 502, 503, 504], maxAttempts: 6 };
 * ```
 */
export interface RetryPolicyOptions {
  /**
   * Response statuses that are retried. 400, 401, 403, 404 and 422 are refused: a retry cannot fix them.
   * @default [408, 429, 500, 502, 503, 504]
   * @example [249, 408, 429, 500, 502, 503, 504]
   */
  statuses?: readonly number[];
  /**
   * Methods retried without an `Idempotency-Key` (case-insensitive).
   * @default ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']
   * @example ['GET']
   */
  methods?: readonly string[];
  /**
   * Retry any method (for a request class known to be safe to replay).
   * @default false
   * @example true
   */
  retryAllMethods?: boolean;
  /**
   * Retry network errors (no response).
   * @default true
   * @example false
   */
  networkErrors?: boolean;
  /**
   * Total attempts, including the first: an integer ≥ 1 (`1` never retries).
   * @default 5
   * @example 6
   */
  maxAttempts?: number;
  /**
   * Total time across all attempts, from the start of the first; a retry that would start at or after it is
   * refused. No deadline when absent.
   * @example '30s'
   */
  deadline?: Duration;
  /**
   * The longest server-given wait (`Retry-After`) the policy accepts without `onLongRetryAfter`.
   * @default '60s'
   * @example '5m'
   */
  maxRetryAfter?: Duration;
  /**
   * When the server's wait exceeds `maxRetryAfter`: `'fail'` refuses the retry (reason
   * `retry-after-too-long`, for the caller to throw a `RateLimitedError`), `'wait'` honours it.
   * @default 'fail'
   * @example 'wait'
   */
  onLongRetryAfter?: 'fail' | 'wait';
  /**
   * The backoff used when the server gives no wait; see {@link BackoffOptions}.
   * @default { base: '1s', cap: '30s', factor: 2, jitter: 'full' }
   * @example { base: '1s', factor: 2, jitter: 'none' }
   */
  backoff?: BackoffOptions;
}

/**
 * A retry policy after validation (see {@link createRetryPolicy}); durations in ms.
 *
 * @example
 * ```ts
 * const policy: RetryPolicy = createRetryPolicy();
 * policy.maxAttempts; // 5
 * ```
 */
export interface RetryPolicy {
  /** Retried statuses (never 400, 401, 403, 404 or 422). */
  readonly statuses: ReadonlySet<number>;
  /** Methods retried without an `Idempotency-Key`, upper-case. */
  readonly methods: ReadonlySet<string>;
  /** Retry any method. */
  readonly retryAllMethods: boolean;
  /** Retry network errors. */
  readonly networkErrors: boolean;
  /** Total attempts, including the first. */
  readonly maxAttempts: number;
  /** Total time across attempts, in ms; `Infinity` when there is no deadline. */
  readonly deadlineMs: number;
  /** The longest server wait accepted without `onLongRetryAfter`, in ms. */
  readonly maxRetryAfterMs: number;
  /** What to do when the server's wait exceeds `maxRetryAfterMs`. */
  readonly onLongRetryAfter: 'fail' | 'wait';
  /** The backoff used when the server gives no wait. */
  readonly backoff: NormalizedBackoff;
}

/**
 * What {@link shouldRetry} is told about the attempt that just failed.
 *
 * @example
 * ```ts
 * const input: RetryInput = { method: 'GET', status: 503, attempt: 1, hasIdempotencyKey: false, elapsedMs: 120 };
 * ```
 */
export interface RetryInput {
  /** The request method (any case). */
  method: string;
  /** The response status; absent for a network error. */
  status?: number;
  /** The request failed without a response (connection reset, DNS, timeout). */
  networkError?: boolean;
  /** The attempt that just failed, from 1. */
  attempt: number;
  /** The request carries an `Idempotency-Key` header. */
  hasIdempotencyKey: boolean;
  /** The server's wait, already parsed from `Retry-After` and friends, in ms. */
  retryAfterMs?: number;
  /** Time since the first attempt started, in ms. */
  elapsedMs: number;
  /** The previous backoff delay, in ms (used by `decorrelated` jitter). */
  previousDelayMs?: number;
}

/**
 * Why a retry is refused.
 *
 * @example
 * ```ts
 * const reason: RetryRefusal = 'retry-after-too-long';
 * ```
 */
export type RetryRefusal =
  | 'no-failure'
  | 'never-retried-status'
  | 'status-not-retryable'
  | 'network-errors-disabled'
  | 'method-not-idempotent'
  | 'max-attempts'
  | 'retry-after-too-long'
  | 'deadline';

/**
 * The answer of {@link shouldRetry}. A retry carries its delay and where it came from (`retry-after`: the
 * server's wait, exactly; `backoff`: the jittered exponential backoff). A refusal for
 * `retry-after-too-long` carries the server's wait, for a `RateLimitedError`.
 *
 * @example
 * ```ts
 * const decision: RetryDecision = { retry: true, delayMs: 1000, reason: 'status', source: 'backoff' };
 * ```
 */
export type RetryDecision =
  | { retry: true; delayMs: number; reason: 'status' | 'network-error'; source: 'retry-after' | 'backoff' }
  | { retry: false; reason: RetryRefusal; retryAfterMs?: number };

const OPTIONS = [
  'statuses',
  'methods',
  'retryAllMethods',
  'networkErrors',
  'maxAttempts',
  'deadline',
  'maxRetryAfter',
  'onLongRetryAfter',
  'backoff',
] as const;

function statusSet(value: unknown): ReadonlySet<number> {
  if (!Array.isArray(value)) fail('statuses', 'an array of HTTP statuses', value);
  return new Set(
    value.map((status: unknown, index) => {
      const path = `statuses[${index}]`;
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
        fail(path, 'an HTTP status (an integer from 100 to 599)', status);
      }
      if (NEVER_RETRY_STATUSES.includes(status)) {
        throw new ConfigError(
          path,
          `Expected \`${path}\` to be a retryable status, got ${describe(status)}: ${status} is never retried, a retry cannot make it succeed`,
        );
      }
      return status;
    }),
  );
}

function methodSet(value: unknown): ReadonlySet<string> {
  if (!Array.isArray(value)) fail('methods', 'an array of HTTP methods', value);
  return new Set(
    value.map((method: unknown, index) => {
      if (typeof method !== 'string' || !/^[A-Za-z]+$/.test(method)) {
        fail(`methods[${index}]`, 'an HTTP method like "GET"', method);
      }
      return method.toUpperCase();
    }),
  );
}

function flag(path: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(path, 'a boolean', value);
  return value;
}

/**
 * Validates retry options once and returns the normalised policy. Throws a `ConfigError` naming the option
 * at fault (listing 400, 401, 403, 404 or 422 in `statuses` is refused).
 *
 * @example
 * ```ts
 * const policy = createRetryPolicy({ statuses: [249, 429, 503], maxAttempts: 6, deadline: '30s' });
 * createRetryPolicy({ statuses: [401] }); // throws ConfigError: ... 401 is never retried ...
 * ```
 */
export function createRetryPolicy(options: RetryPolicyOptions = {}): RetryPolicy {
  knownKeys('retry options', optionsObject('retry', options), OPTIONS);
  const onLongRetryAfter = options.onLongRetryAfter ?? 'fail';
  if (onLongRetryAfter !== 'fail' && onLongRetryAfter !== 'wait') {
    fail('onLongRetryAfter', '"fail" or "wait"', onLongRetryAfter);
  }
  return {
    statuses: statusSet(options.statuses ?? DEFAULT_RETRY_STATUSES),
    methods: methodSet(options.methods ?? IDEMPOTENT_METHODS),
    retryAllMethods: flag('retryAllMethods', options.retryAllMethods, false),
    networkErrors: flag('networkErrors', options.networkErrors, true),
    maxAttempts: integerAtLeast('maxAttempts', options.maxAttempts ?? 5, 1),
    deadlineMs:
      options.deadline === undefined
        ? Number.POSITIVE_INFINITY
        : parsePositiveDuration(options.deadline, 'deadline'),
    maxRetryAfterMs: parseDuration(options.maxRetryAfter ?? '60s', 'maxRetryAfter'),
    onLongRetryAfter,
    backoff: createBackoff(options.backoff ?? {}),
  };
}

function failureReason(input: RetryInput, policy: RetryPolicy): RetryDecision | 'status' | 'network-error' {
  const { status } = input;
  if (status !== undefined) {
    if (NEVER_RETRY_STATUSES.includes(status)) return { retry: false, reason: 'never-retried-status' };
    return policy.statuses.has(status) ? 'status' : { retry: false, reason: 'status-not-retryable' };
  }
  if (input.networkError !== true) return { retry: false, reason: 'no-failure' };
  return policy.networkErrors ? 'network-error' : { retry: false, reason: 'network-errors-disabled' };
}

/**
 * Decides, purely, whether the attempt that just failed is retried and after how long. Checks in order:
 * the failure (status or network error), the method (idempotent, an `Idempotency-Key`, or
 * `retryAllMethods`), `maxAttempts`, the server's wait against `maxRetryAfter`, then the deadline (a retry
 * that would start at or after it is refused). A server-given wait is honoured exactly; otherwise the
 * delay comes from the backoff with the given `random` source (`[0, 1)`).
 *
 * @example
 * ```ts
 * const policy = createRetryPolicy({ backoff: { jitter: 'none' } });
 * shouldRetry({ method: 'GET', status: 503, attempt: 1, hasIdempotencyKey: false, elapsedMs: 0 }, policy, Math.random);
 * // { retry: true, delayMs: 1000, reason: 'status', source: 'backoff' }
 * shouldRetry({ method: 'POST', status: 503, attempt: 1, hasIdempotencyKey: false, elapsedMs: 0 }, policy, Math.random);
 * // { retry: false, reason: 'method-not-idempotent' }
 * ```
 */
export function shouldRetry(input: RetryInput, policy: RetryPolicy, random: () => number): RetryDecision {
  const attempt = integerAtLeast('attempt', input.attempt, 1);
  const { elapsedMs } = input;
  if (typeof elapsedMs !== 'number' || !(elapsedMs >= 0) || !Number.isFinite(elapsedMs)) {
    fail('elapsedMs', 'a finite number of ms ≥ 0', elapsedMs);
  }
  const reason = failureReason(input, policy);
  if (typeof reason !== 'string') return reason;
  const idempotent = policy.methods.has(input.method.toUpperCase());
  if (!idempotent && !input.hasIdempotencyKey && !policy.retryAllMethods) {
    return { retry: false, reason: 'method-not-idempotent' };
  }
  if (attempt >= policy.maxAttempts) return { retry: false, reason: 'max-attempts' };
  const serverWait = input.retryAfterMs;
  let delayMs: number;
  let source: 'retry-after' | 'backoff';
  if (typeof serverWait === 'number' && !Number.isNaN(serverWait)) {
    const tooLong = serverWait > policy.maxRetryAfterMs;
    if (serverWait === Number.POSITIVE_INFINITY || (tooLong && policy.onLongRetryAfter === 'fail')) {
      return { retry: false, reason: 'retry-after-too-long', retryAfterMs: serverWait };
    }
    delayMs = Math.max(0, serverWait);
    source = 'retry-after';
  } else {
    const previousMs = input.previousDelayMs ?? policy.backoff.baseMs;
    delayMs = nextDelay({ attempt: attempt - 1, previousMs }, policy.backoff, random).delayMs;
    source = 'backoff';
  }
  if (input.elapsedMs + delayMs >= policy.deadlineMs) return { retry: false, reason: 'deadline' };
  return { retry: true, delayMs, reason, source };
}
