import { tokenBucket } from '../core/limits.js';
import { definePreset } from './define.js';

/*
 * Merchant API, seed 003. Verbatim from the seed:
 *   "Rate limit | 10 requests/second", "Burst capacity | 60 requests", "Concurrency limit | 5 simultaneous
 *   requests", "Maximum API keys per merchant | 6"; "a token bucket algorithm keyed by API user ID … per API
 *   credential, not per IP address"; "409 Conflict | The concurrency limit has been reached", "429 Too Many
 *   Requests | The rate limit has been exceeded. Wait for the duration indicated in the Retry-After header";
 *   headers "on every response": RateLimit-Limit, RateLimit-Remaining, Retry-After ("Only present when a 429
 *   response is returned"), X-Concurrency-Limit, X-Concurrency-Current; and the API key error message.
 *
 * Choices:
 * - Key `user`: the API user, which the gateway fills in from the authenticated API key.
 * - Header names: the `draft-6` profile would add `RateLimit-Reset` and `RateLimit-Policy`, which its options
 *   cannot drop; the `legacy` profile renamed to `RateLimit-Limit` / `RateLimit-Remaining` with its reset
 *   field left out gives exactly the two fields (same values: the bucket's burst and what is left of it).
 *   The seed calls `RateLimit-Limit` "the maximum number of requests you can make per minute"; it carries
 *   the burst, 60.
 * - The body: the seed shows none, so sluice's RFC 9457 problem stays (status 409 or 429 in it).
 * - A request turned away at the concurrency limit spends no rate budget (sluice takes the lease first); its
 *   409 still carries the RateLimit-* fields ("every response"), the budget read without spending it.
 *
 * Client (`client`): one class for every request, the token bucket and the 5 in flight as documented.
 * - Margin: the rate at 98 %, the burst at 90 % (54 of 60). The bucket is per API user and the document
 *   advises a key per workflow, so the client is usually the key's only user: the 6 tokens kept in reserve
 *   absorb network jitter (requests bunching up on the way), and the 2 % absorbs clock drift. Give a lower
 *   `margin` when several processes share one key (or share the budget, see the shared budgets).
 * - Retry: the defaults (408, 429, 5xx, network errors; idempotent methods or an Idempotency-Key) and 409,
 *   which this API answers before doing any work. A 429 waits exactly its Retry-After ("wait at least that
 *   many seconds"); a 409 halves the concurrency ("reduce the number of in-flight requests").
 */

/**
 * The Merchant API (seed 003): per API user, a token bucket of 10 requests per second with bursts of 60 and at
 * most 5 requests in flight (409 beyond); `RateLimit-Limit`, `RateLimit-Remaining`, `X-Concurrency-Limit`,
 * `X-Concurrency-Current`, and `Retry-After` on 429. Its API-key rules are in `keys`.
 *
 * @example
 * ```ts
 * const guard = sluiceNode(createEnforcer(presetOptions(merchantApi)), { identify: (req) => ({ user: apiUserOf(req) }) });
 * merchantApi.keys?.maxActivePerAccount; // 6
 * ```
 */
export const merchantApi = definePreset({
  name: 'merchant-api',
  description:
    'Merchant API: per API user, token bucket 10 requests/s with bursts of 60, at most 5 requests in flight (409); RateLimit-Limit, RateLimit-Remaining, X-Concurrency-Limit, X-Concurrency-Current, Retry-After on 429; at most 6 API keys per merchant.',
  source: 'seeds/003 (Merchant API, rate and concurrency limits)',
  config: {
    policies: [
      {
        name: 'merchant-api',
        key: 'user',
        limits: [{ type: 'tokenBucket', rate: 10, per: '1s', burst: 60 }],
        concurrency: { max: 5, ttl: '1m' },
      },
    ],
  },
  headers: {
    profiles: ['legacy'],
    legacyNames: { limit: 'RateLimit-Limit', remaining: 'RateLimit-Remaining', reset: false },
    concurrencyNames: { limit: 'X-Concurrency-Limit', current: 'X-Concurrency-Current' },
  },
  rejection: { statuses: { rate: 429, concurrency: 409 } },
  client: {
    classes: {
      api: {
        match: () => true,
        limits: [tokenBucket({ rate: 10, per: '1s', burst: 60, name: 'merchant-api' })],
        concurrency: 5,
      },
    },
    margin: { rate: 0.98, burst: 0.9 },
    // 409 (the concurrency limit) is retried too: the request was turned away before any work.
    retry: { statuses: [409, 408, 429, 500, 502, 503, 504] },
  },
  keys: {
    maxActivePerAccount: 6,
    // Verbatim, with the document's typographic apostrophe (U+2019).
    limitMessage:
      'You\u2019ve reached your limit of 6 API keys. Please delete any unused API keys and try again.',
  },
  routes: [
    { method: 'GET', path: '/v1/orders', policies: ['merchant-api'] },
    { method: 'POST', path: '/v1/orders', policies: ['merchant-api'] },
    { method: 'POST', path: '/v1/rates', policies: ['merchant-api'] },
  ],
});
