import type { RetryPolicyOptions } from './retry-policy.js';

/**
 * Retry rules of the Platform API (issue 6, item 7): retries every 5xx, 249, 408 and 429 at least five times
 * (six attempts in all) with exponential backoff and full jitter, from 1 s up to 30 s. Pass it to
 * `createRetryPolicy`.
 *
 * @example
 * ```ts
 * const policy = createRetryPolicy(platformApiRetry);
 * ```
 */
export const platformApiRetry: Readonly<RetryPolicyOptions> = Object.freeze({
  // "5xx Server errors": every one of them, 500 to 599.
  statuses: Object.freeze([249, 408, 429, ...Array.from({ length: 100 }, (_, i) => 500 + i)]),
  maxAttempts: 6,
  backoff: Object.freeze({ base: '1s', cap: '30s', factor: 2, jitter: 'full' as const }),
});

/**
 * Retry rules of the Sales-data API (issue 6, item 7): wait 1 s, 2 s, 4 s, then stop (four attempts in
 * all), each wait up to 10 % longer at random ("add jitter to retries so multiple workers do not retry at
 * the same instant", never shorter than the document's wait); validation, malformed-request and auth
 * errors (400, 401, 403, 404, 422) are never retried. Pass it to `createRetryPolicy`.
 *
 * @example
 * ```ts
 * const policy = createRetryPolicy(salesDataRetry);
 * ```
 */
export const salesDataRetry: Readonly<RetryPolicyOptions> = Object.freeze({
  maxAttempts: 4,
  backoff: Object.freeze({
    base: '1s',
    factor: 2,
    jitter: (exponentialMs: number, _attempt: number, random: () => number) =>
      exponentialMs * (1 + 0.1 * random()),
  }),
});
