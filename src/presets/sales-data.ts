import { salesDataRetry } from '../client/retry-policy-presets.js';
import { slidingWindow } from '../core/limits.js';
import { definePreset } from './define.js';

/*
 * Sales Layer APIs, seed 004 "Rate limiting": "50 requests | 10 seconds"; "Exceeding this limit may result in
 * temporary throttling or request rejection"; "Keep a global rate limiter for the whole integration".
 *
 * Choices (the seed names no algorithm, key, header or body):
 * - A fixed window of 50 per 10 seconds, aligned to the epoch: the table's "limit / time window" as written.
 *   (A client may still land 50 at the end of one window and 50 at the start of the next: the seed's advice
 *   to "keep a margin below the documented limit" is the client's side of that.)
 * - Key `apiKey` (the `X-API-Key` header, hashed): one budget per integration credential. Requests without a
 *   key share one budget rather than escape it.
 * - Rejection: 429 with sluice's RFC 9457 problem body; headers: sluice's standard RateLimit fields.
 */

/**
 * The Sales Layer APIs (seed 004): 50 requests per 10 seconds per API key, as a fixed window; 429 beyond.
 *
 * @example
 * ```ts
 * const enforcer = createEnforcer(presetOptions(salesData));
 * ```
 */
export const salesData = definePreset({
  name: 'sales-data',
  description: 'Sales Layer APIs: 50 requests per 10 seconds per API key (fixed window); 429 beyond.',
  source: 'seeds/004 (Sales Layer, "Rate limiting")',
  config: {
    policies: [
      {
        name: 'sales-data',
        key: 'apiKey',
        limits: [{ type: 'fixedWindow', limit: 50, window: '10s' }],
      },
    ],
  },
  headers: { profiles: ['ietf'] },
  rejection: { statuses: { rate: 429 } },
  // Client: "keep a margin below the documented limit" and do not "send bursts of requests up to the exact
  // maximum on every time window": a sliding window of 50 per 10 s at margin 0.9 (45 per any 10 s, so never
  // more than 45 in one of the server's fixed windows); "limit concurrency": 4 in flight (the document gives
  // no number; 4 keeps a 10 s window from being spent in one burst while leaving room for slow responses);
  // the "example retry strategy": 1 s, 2 s, 4 s, then stop; validation and auth errors never retried.
  client: {
    classes: {
      api: {
        match: () => true,
        limits: [slidingWindow({ limit: 50, window: '10s', name: 'sales-data' })],
        concurrency: 4,
      },
    },
    margin: 0.9,
    retry: salesDataRetry,
  },
  routes: [
    { method: 'GET', path: '/products', policies: ['sales-data'] },
    { method: 'GET', path: '/categories', policies: ['sales-data'] },
    { method: 'PATCH', path: '/products/123', policies: ['sales-data'] },
  ],
});
