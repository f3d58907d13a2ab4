import { platformApiRetry } from '../client/retry-policy-presets.js';
import { slidingWindow, tokenBucket } from '../core/limits.js';
import { definePreset } from './define.js';

/*
 * Platform API, seed 002 "Rate limiting". Verbatim from the seed:
 *   "The Platform API enforces rate limits at the account and route level."
 *   /platform/v2/process/{siteIdentifier}                           1 request per site per 5 minutes
 *   /product/v2/site/{siteIdentifier}/stage/{stageName}/{stageId}   60 requests per minute
 *   /*  "All other endpoints (limit applies per endpoint individually)"   5 requests per second
 *   Headers on every response: X-RateLimit-Limit, X-Ratelimit-Remaining, X-Ratelimit-Retry-After ("Unix
 *   timestamp when the current rate-limiting window resets"); on excess: HTTP 429 and
 *   {"success":false,"message":"Too many attempts."}
 *
 * Choices:
 * - Key `account`: the account the application authenticated (the limits are "at the account level", so
 *   every credential of one account shares them); the process endpoint adds the site (`siteIdentifier`).
 * - The process endpoint: a token bucket of one token refilled every 5 minutes: at most one request per site
 *   in any 5 minutes, the window starting at the request, never two across a window edge.
 * - The other two: fixed windows (the headers speak of "the current rate-limiting window").
 * - "Each endpoint individually": scope `endpoint` over `/**`: every method and path is its own budget (the
 *   API's route table is not published, so two ids of one route are two endpoints here).
 * - Headers: the `legacy` profile renamed to the document's spelling, `X-RateLimit-Reset` left out, and
 *   `X-Ratelimit-Retry-After` as a Unix time (`retryAfterTimestamp`).
 *
 * - "All other endpoints": `/**` with `except` for the two endpoints above, so each route has one limit.
 * - A rejection carries the document's three fields only (no standard `Retry-After`).
 *
 * Known difference: the seed's 429 example shows `X-Ratelimit-Remaining: 1`; sluice announces 0 on a
 * rejection (nothing is left).
 */

/**
 * The Platform API (seed 002): per account, the process endpoint once per site per 5 minutes, the product
 * data read endpoint 60 per minute, every other endpoint 5 per second each; `X-RateLimit-Limit`,
 * `X-Ratelimit-Remaining` and `X-Ratelimit-Retry-After` (a Unix time) on every response; 429 with
 * `{"success":false,"message":"Too many attempts."}`.
 *
 * @example
 * ```ts
 * const guard = sluiceNode(createEnforcer(presetOptions(platformApi)), { identify: (req) => ({ account: accountOf(req) }) });
 * ```
 */
export const platformApi = definePreset({
  name: 'platform-api',
  description:
    'Platform API: per account, /platform/v2/process/:siteIdentifier once per site per 5 minutes, the product data read endpoint 60 per minute, every other endpoint 5 per second each; X-RateLimit-Limit, X-Ratelimit-Remaining, X-Ratelimit-Retry-After (Unix time); 429 {"success":false,"message":"Too many attempts."}.',
  source: 'seeds/002 (Platform API, "Rate limiting")',
  config: {
    policies: [
      {
        name: 'process',
        match: { paths: ['/platform/v2/process/:siteIdentifier'] },
        key: ['account', { param: 'siteIdentifier' }],
        limits: [{ type: 'tokenBucket', rate: 1, per: '5m', burst: 1 }],
      },
      {
        name: 'product-data',
        match: { paths: ['/product/v2/site/:siteIdentifier/stage/:stageName/:stageId'] },
        key: 'account',
        limits: [{ type: 'fixedWindow', limit: 60, window: '1m' }],
      },
      {
        name: 'endpoints',
        // "All other endpoints": the two with their own limit are left out.
        match: {
          paths: ['/**'],
          except: [
            '/platform/v2/process/:siteIdentifier',
            '/product/v2/site/:siteIdentifier/stage/:stageName/:stageId',
          ],
        },
        key: 'account',
        scope: 'endpoint',
        limits: [{ type: 'fixedWindow', limit: 5, window: '1s' }],
      },
    ],
  },
  headers: {
    profiles: ['legacy'],
    legacyNames: { limit: 'X-RateLimit-Limit', remaining: 'X-Ratelimit-Remaining', reset: false },
    retryAfterTimestamp: 'X-Ratelimit-Retry-After',
    // The document's 429 carries its three fields only: the wait is X-Ratelimit-Retry-After.
    retryAfter: false,
  },
  rejection: {
    statuses: { rate: 429 },
    template: { success: false, message: 'Too many attempts.' },
    contentType: 'application/json',
  },
  // Client: a class per documented limit. `process` once per 5 minutes (one site; a client processing
  // several sites should add a class per site), product data 60 per minute, and every other endpoint 5 per
  // second, here shared by all of them (the server counts each endpoint apart, so this is conservative: add
  // a class for an endpoint you call heavily). Sliding windows at margin 0.9. Retries: "at least five retry
  // attempts" on 5xx, 249, 408 and 429 with exponential backoff (platformApiRetry: six attempts in all).
  client: {
    classes: {
      process: {
        match: (_method, url) => /^\/platform\/v2\/process\/[^/]+\/?$/.test(url.pathname),
        limits: [tokenBucket({ rate: 1, per: '5m', burst: 1, name: 'process' })],
        concurrency: 1,
      },
      'product-data': {
        match: (_method, url) => /^\/product\/v2\/site\/[^/]+\/stage\/[^/]+\/[^/]+\/?$/.test(url.pathname),
        limits: [slidingWindow({ limit: 60, window: '1m', name: 'product-data' })],
      },
      endpoints: {
        match: () => true,
        limits: [slidingWindow({ limit: 5, window: '1s', name: 'endpoints' })],
      },
    },
    margin: 0.9,
    retry: platformApiRetry,
  },
  routes: [
    { method: 'POST', path: '/platform/v2/process/site-1', policies: ['process'] },
    {
      method: 'GET',
      path: '/product/v2/site/site-1/stage/live/42',
      policies: ['product-data'],
    },
    { method: 'GET', path: '/platform/v2/sites', policies: ['endpoints'] },
    { method: 'GET', path: '/platform/v2/users', policies: ['endpoints'] },
  ],
});
