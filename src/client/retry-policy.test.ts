import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, RateLimitedError } from '../core/errors.js';
import {
  createRetryPolicy,
  DEFAULT_RETRY_STATUSES,
  NEVER_RETRY_STATUSES,
  type RetryInput,
  type RetryPolicyOptions,
  shouldRetry,
} from './retry-policy.js';
import { platformApiRetry, salesDataRetry } from './retry-policy-presets.js';

const half = () => 0.5;

function input(overrides: Partial<RetryInput> = {}): RetryInput {
  return { method: 'GET', status: 503, attempt: 1, hasIdempotencyKey: false, elapsedMs: 0, ...overrides };
}

describe('createRetryPolicy', () => {
  it('has the documented defaults', () => {
    const policy = createRetryPolicy();
    expect([...policy.statuses]).toEqual([408, 429, 500, 502, 503, 504]);
    expect([...policy.methods]).toEqual(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
    expect(policy).toMatchObject({
      retryAllMethods: false,
      networkErrors: true,
      maxAttempts: 5,
      deadlineMs: Number.POSITIVE_INFINITY,
      maxRetryAfterMs: 60_000,
      onLongRetryAfter: 'fail',
      backoff: { baseMs: 1000, capMs: 30_000, factor: 2, jitter: 'full' },
    });
  });

  it.each(NEVER_RETRY_STATUSES)('refuses %i in `statuses`, naming the status', (status) => {
    expect(() => createRetryPolicy({ statuses: [429, status] })).toThrow(ConfigError);
    expect(() => createRetryPolicy({ statuses: [429, status] })).toThrow(
      `Expected \`statuses[1]\` to be a retryable status, got \`${status}\` (number): ${status} is never retried`,
    );
  });

  it.each<[RetryPolicyOptions, string]>([
    [{ statuses: [700] }, 'statuses[0]'],
    [{ statuses: '429' as never }, 'statuses'],
    [{ methods: ['G ET'] }, 'methods[0]'],
    [{ maxAttempts: 0 }, 'maxAttempts'],
    [{ maxAttempts: 2.5 }, 'maxAttempts'],
    [{ deadline: '0s' }, 'deadline'],
    [{ maxRetryAfter: 'soon' }, 'maxRetryAfter'],
    [{ onLongRetryAfter: 'sleep' as never }, 'onLongRetryAfter'],
    [{ retryAllMethods: 'yes' as never }, 'retryAllMethods'],
    [{ backoff: { factor: 0 } }, 'factor'],
    [{ retries: 3 } as never, 'retries'],
  ])('refuses %o, naming `%s`', (options, path) => {
    try {
      createRetryPolicy(options);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).path).toBe(path);
    }
  });
});

describe('shouldRetry: what failed', () => {
  const policy = createRetryPolicy();

  it.each(DEFAULT_RETRY_STATUSES)('retries %i by default, after the backoff delay', (status) => {
    expect(shouldRetry(input({ status }), policy, half)).toEqual({
      retry: true,
      delayMs: 500,
      reason: 'status',
      source: 'backoff',
    });
  });

  it.each(NEVER_RETRY_STATUSES)('never retries %i', (status) => {
    expect(shouldRetry(input({ status }), policy, half)).toEqual({
      retry: false,
      reason: 'never-retried-status',
    });
    expect(shouldRetry(input({ status, retryAfterMs: 100 }), policy, half).retry).toBe(false);
  });

  it.each([200, 249, 409, 501, 505])('does not retry %i unless listed', (status) => {
    expect(shouldRetry(input({ status }), policy, half)).toEqual({
      retry: false,
      reason: 'status-not-retryable',
    });
  });

  it('retries a listed extra status (the Platform API 249)', () => {
    const withExtra = createRetryPolicy({ statuses: [...DEFAULT_RETRY_STATUSES, 249] });
    expect(shouldRetry(input({ status: 249 }), withExtra, half).retry).toBe(true);
  });

  it('retries network errors unless disabled; nothing failed means no retry', () => {
    const network = input({ networkError: true });
    delete network.status;
    expect(shouldRetry(network, policy, half)).toMatchObject({ retry: true, reason: 'network-error' });
    expect(shouldRetry(network, createRetryPolicy({ networkErrors: false }), half)).toEqual({
      retry: false,
      reason: 'network-errors-disabled',
    });
    const nothing = input();
    delete nothing.status;
    expect(shouldRetry(nothing, policy, half)).toEqual({ retry: false, reason: 'no-failure' });
  });
});

describe('shouldRetry: methods', () => {
  const policy = createRetryPolicy();

  it.each(['GET', 'head', 'OPTIONS', 'put', 'DELETE'])('retries the idempotent %s', (method) => {
    expect(shouldRetry(input({ method }), policy, half).retry).toBe(true);
  });

  it('does not replay a POST or PATCH without an Idempotency-Key', () => {
    for (const method of ['POST', 'PATCH']) {
      expect(shouldRetry(input({ method }), policy, half)).toEqual({
        retry: false,
        reason: 'method-not-idempotent',
      });
    }
  });

  it('retries a POST carrying an Idempotency-Key, or any method when retryAllMethods is set', () => {
    expect(shouldRetry(input({ method: 'POST', hasIdempotencyKey: true }), policy, half).retry).toBe(true);
    const all = createRetryPolicy({ retryAllMethods: true });
    expect(shouldRetry(input({ method: 'POST' }), all, half).retry).toBe(true);
  });

  it('takes a configured method list', () => {
    const getOnly = createRetryPolicy({ methods: ['get'] });
    expect(shouldRetry(input({ method: 'GET' }), getOnly, half).retry).toBe(true);
    expect(shouldRetry(input({ method: 'PUT' }), getOnly, half).retry).toBe(false);
  });
});

describe('shouldRetry: attempts, deadline and the server wait', () => {
  it('stops at maxAttempts (attempts include the first)', () => {
    const policy = createRetryPolicy();
    expect(shouldRetry(input({ attempt: 4 }), policy, half)).toMatchObject({ retry: true, delayMs: 4000 });
    expect(shouldRetry(input({ attempt: 5 }), policy, half)).toEqual({
      retry: false,
      reason: 'max-attempts',
    });
    expect(shouldRetry(input(), createRetryPolicy({ maxAttempts: 1 }), half).retry).toBe(false);
  });

  it('refuses a retry that would start at or after the deadline', () => {
    const policy = createRetryPolicy({ deadline: '10s', backoff: { jitter: 'none' } });
    expect(shouldRetry(input({ elapsedMs: 8999 }), policy, half)).toMatchObject({
      retry: true,
      delayMs: 1000,
    });
    expect(shouldRetry(input({ elapsedMs: 9000 }), policy, half)).toEqual({
      retry: false,
      reason: 'deadline',
    });
    expect(shouldRetry(input({ elapsedMs: 6000, retryAfterMs: 4000 }), policy, half)).toEqual({
      retry: false,
      reason: 'deadline',
    });
  });

  it('honours the server wait exactly, with no jitter', () => {
    const policy = createRetryPolicy({ backoff: { jitter: 'full' } });
    for (const retryAfterMs of [0, 1, 1234, 59_999, 60_000]) {
      expect(shouldRetry(input({ status: 429, retryAfterMs, attempt: 3 }), policy, Math.random)).toEqual({
        retry: true,
        delayMs: retryAfterMs,
        reason: 'status',
        source: 'retry-after',
      });
    }
    expect(shouldRetry(input({ retryAfterMs: -500 }), policy, half)).toMatchObject({ delayMs: 0 });
    expect(shouldRetry(input({ retryAfterMs: Number.NaN }), policy, half)).toMatchObject({
      source: 'backoff',
    });
  });

  it("fails fast on a wait beyond maxRetryAfter with 'fail', carrying the wait for a RateLimitedError", () => {
    const policy = createRetryPolicy({ maxRetryAfter: '1m' });
    const decision = shouldRetry(input({ status: 429, retryAfterMs: 60_001 }), policy, half);
    expect(decision).toEqual({ retry: false, reason: 'retry-after-too-long', retryAfterMs: 60_001 });
    if (decision.retry || decision.retryAfterMs === undefined)
      throw new Error('expected a refusal with a wait');
    expect(new RateLimitedError(decision.retryAfterMs).retryAfterMs).toBe(60_001);
  });

  it("waits beyond maxRetryAfter with 'wait', but never forever", () => {
    const policy = createRetryPolicy({ maxRetryAfter: '1m', onLongRetryAfter: 'wait' });
    expect(shouldRetry(input({ status: 429, retryAfterMs: 300_000 }), policy, half)).toMatchObject({
      retry: true,
      delayMs: 300_000,
    });
    expect(shouldRetry(input({ retryAfterMs: Number.POSITIVE_INFINITY }), policy, half)).toMatchObject({
      retry: false,
      reason: 'retry-after-too-long',
    });
  });

  it('uses the previous delay for decorrelated jitter', () => {
    const policy = createRetryPolicy({ backoff: { jitter: 'decorrelated' } });
    expect(shouldRetry(input({ attempt: 2, previousDelayMs: 2000 }), policy, half)).toMatchObject({
      delayMs: 3500,
    });
  });

  it('refuses a malformed attempt or elapsed time', () => {
    expect(() => shouldRetry(input({ attempt: 0 }), createRetryPolicy(), half)).toThrow(ConfigError);
    expect(() => shouldRetry(input({ elapsedMs: Number.NaN }), createRetryPolicy(), half)).toThrow(
      ConfigError,
    );
  });

  it('property: a retry waits the server time exactly or a backoff delay within [0, cap]', () => {
    const policy = createRetryPolicy({ statuses: [249, 408, 429, 500, 502, 503, 504], maxAttempts: 10 });
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH'),
        fc.integer({ min: 1, max: 20 }),
        fc.boolean(),
        fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: undefined }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (status, method, attempt, hasIdempotencyKey, retryAfterMs, value) => {
          const base = { method, status, attempt, hasIdempotencyKey, elapsedMs: 0 };
          const decision = shouldRetry(
            retryAfterMs === undefined ? base : { ...base, retryAfterMs },
            policy,
            () => value,
          );
          if (!decision.retry) return;
          expect(policy.statuses.has(status)).toBe(true);
          expect(NEVER_RETRY_STATUSES).not.toContain(status);
          expect(attempt).toBeLessThan(10);
          if (retryAfterMs === undefined) expect(decision.delayMs).toBeLessThanOrEqual(30_000);
          else expect(decision.delayMs).toBe(retryAfterMs);
        },
      ),
    );
  });
});

describe('presets', () => {
  it('Sales-data: 1 s, 2 s, 4 s (each up to 10 % longer, with jitter), then stop', () => {
    const policy = createRetryPolicy(salesDataRetry);
    const delaysWith = (random: () => number) => {
      const seen: (number | string)[] = [];
      for (let attempt = 1; attempt <= 5; attempt++) {
        const decision = shouldRetry(input({ attempt, status: 503 }), policy, random);
        seen.push(decision.retry ? decision.delayMs : decision.reason);
        if (!decision.retry) break;
      }
      return seen;
    };
    expect(delaysWith(() => 0)).toEqual([1000, 2000, 4000, 'max-attempts']);
    expect(delaysWith(() => 0.5)).toEqual([1050, 2100, 4200, 'max-attempts']);
    expect(delaysWith(() => 0.999)).toEqual([1100, 2200, 4400, 'max-attempts']);
  });

  it('Sales-data: never retries validation, malformed or auth errors', () => {
    const policy = createRetryPolicy(salesDataRetry);
    for (const status of [400, 401, 403, 422]) {
      expect(shouldRetry(input({ status }), policy, half).retry).toBe(false);
    }
  });

  it('Platform API: retries 249, 408, 429 and 5xx at least five times with exponential backoff', () => {
    const policy = createRetryPolicy(platformApiRetry);
    for (const status of [249, 408, 429, 500, 501, 502, 503, 504, 505, 507, 520, 599]) {
      expect(shouldRetry(input({ status }), policy, half).retry).toBe(true);
    }
    const delays: number[] = [];
    for (let attempt = 1; ; attempt++) {
      const decision = shouldRetry(input({ attempt, status: 249 }), policy, half);
      if (!decision.retry) break;
      delays.push(decision.delayMs);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000]);
  });

  it('are frozen data', () => {
    expect(Object.isFrozen(platformApiRetry)).toBe(true);
    expect(Object.isFrozen(salesDataRetry.backoff)).toBe(true);
  });
});
