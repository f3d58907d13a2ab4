import { tokenBucket } from '../core/limits.js';
import type { PolicyConfig, PolicyMode } from '../policy/types.js';
import { definePreset } from './define.js';

/*
 * Sharetribe Flex: Marketplace API (`/v1/api/…`, host flex-api.sharetribe.com) and Integration API
 * (`/v1/integration_api/…`, host flex-integ-api.sharetribe.com). Where each number comes from:
 *
 * [seed]  seeds/000 "Rate limiting in Marketplace API and Integration API" (2022-12-12): separate limits for
 *         queries (fetching data) and commands (modifying data), "rate limits apply by client IP address",
 *         rate limits in dev and demo environments, "production environments are currently not rate
 *         limited", concurrency limits in Integration API only. The numbers are "in the API reference (TODO)".
 * [docs]  The published version of that page, https://www.sharetribe.com/docs/concepts/rate-limiting/ (and
 *         sharetribe/flex-docs): "Queries are rate limited at 1 request per second (60 requests per minute)
 *         on average. Commands are rate limited at 1 request per 2 seconds (30 requests per minute) on
 *         average. The rate limit applies per client IP address."
 * [sdk]   sharetribe/flex-integration-sdk-js, src/utils.js (v1.9.0+), the SDK's client-side limiters:
 *         devQueryLimiterConfig   = { bucketInitial: 100, bucketIncreaseInterval: 1000, bucketIncreaseAmount: 1, bucketMaximum: 200 }
 *         devCommandLimiterConfig = { bucketInitial: 50,  bucketIncreaseInterval: 2000, bucketIncreaseAmount: 1, bucketMaximum: 100 }
 * [sdk-c] The same SDK: CHANGELOG v1.9.0 "Limit concurrent requests by default"; docs/configurations.md and
 *         docs/keep-alive.md: "When creating custom httpsAgent, set `maxSockets` value to 10 or less"; the
 *         seed: "customize `httpsAgent` to use `maxSockets` set to much lower than 10".
 *
 * Not confirmed: the API reference's own burst sizes and concurrency limit (its rate-limit section could not
 * be read). So, as the brief says, the SDK defaults are taken:
 * - refill rates 1/s (queries) and 1 per 2 s (commands): confirmed by [docs] and [sdk];
 * - bursts 200 (queries) and 100 (commands): the SDK's `bucketMaximum` [sdk]. An SDK left idle holds that
 *   many tokens and sends them at once, so a server that let through fewer would reject clients the SDK
 *   paces; the bucket starts full here (the SDK starts at `bucketInitial`, 100 and 50);
 * - concurrency 10 per client IP: the SDK's socket ceiling [sdk-c];
 * - the Marketplace API gets the same rate numbers: [docs] gives the same averages for both APIs, the
 *   Marketplace SDK has no limiter presets to compare with. The two APIs are separate services (separate
 *   hosts), so each keeps its own budgets.
 * Client (`client`), the Integration SDK's "query and command rate limiters" [seed][sdk]: a `query` class
 * (GET, HEAD, OPTIONS) with the query bucket and a `command` class (every other method) with the command
 * bucket, both at margin 0.9; 4 queries and 2 commands in flight, 6 in all, below the 10 the seed says to
 * stay "much lower than"; the default retries (idempotent methods, 429 and 5xx, Retry-After honoured).
 * Later versions of the document add a listing-creation limit (100 per minute, all environments); the seed
 * does not have it and neither does this preset.
 */

/** Rate limited in dev and demo [seed]; production only counts and announces ("shadow"). */
const MODES: Readonly<Record<string, PolicyMode>> = { dev: 'enforce', demo: 'enforce', production: 'shadow' };
const MARKETPLACE_API = ['/v1/api/**'];
const INTEGRATION_API = ['/v1/integration_api/**'];

/**
 * A query (GET, HEAD, OPTIONS) or command (other methods) limit of one API, per client IP. Each policy gets
 * its own copies of the shared values: the configuration then writes out as YAML without anchors.
 */
const limitOf = (name: string, paths: readonly string[], kind: 'query' | 'command'): PolicyConfig => ({
  name,
  match: { paths: [...paths], class: kind },
  key: 'ip',
  limits: [
    kind === 'query'
      ? { type: 'tokenBucket', rate: 1, per: '1s', burst: 200 } // 1/s [docs][sdk], burst [sdk]
      : { type: 'tokenBucket', rate: 1, per: '2s', burst: 100 }, // 1 per 2 s [docs][sdk], burst [sdk]
  ],
  modes: { ...MODES },
});

/**
 * The Marketplace API and Integration API of Sharetribe Flex (seed 000): per client IP, queries 1 per second
 * with bursts of 200, commands 1 per 2 seconds with bursts of 100, at most 10 Integration API requests in
 * flight; enforced in `dev` and `demo`, shadow in `production`.
 *
 * @example
 * ```ts
 * const enforcer = createEnforcer({ ...presetOptions(marketplace, { environment: 'production' }), store });
 * ```
 */
export const marketplace = definePreset({
  name: 'marketplace',
  description:
    'Sharetribe Flex Marketplace API and Integration API: per client IP, queries 1/s (burst 200) and commands 1 per 2 s (burst 100), separately per API; Integration API at most 10 requests in flight; enforced in dev and demo, shadow in production.',
  source:
    'seeds/000 (Sharetribe, "Rate limiting in Marketplace API and Integration API"); numbers from sharetribe.com/docs/concepts/rate-limiting and the Integration SDK (sharetribe/flex-integration-sdk-js src/utils.js)',
  config: {
    policies: [
      limitOf('marketplace-api-queries', MARKETPLACE_API, 'query'),
      limitOf('marketplace-api-commands', MARKETPLACE_API, 'command'),
      limitOf('integration-api-queries', INTEGRATION_API, 'query'),
      limitOf('integration-api-commands', INTEGRATION_API, 'command'),
      {
        name: 'integration-api-concurrency',
        match: { paths: [...INTEGRATION_API] },
        key: 'ip',
        concurrency: { max: 10, ttl: '1m' }, // 10: the SDK's socket ceiling [sdk-c]; ttl: sluice's default
        modes: { ...MODES },
      },
    ],
  },
  // The document names no header field and shows no body: sluice's standard fields (RateLimit-Policy and
  // RateLimit) and RFC 9457 problem; "a 429 response" [seed] for rate and concurrency alike.
  headers: { profiles: ['ietf'] },
  client: {
    classes: {
      query: {
        match: (method) => method === 'GET' || method === 'HEAD' || method === 'OPTIONS',
        limits: [tokenBucket({ rate: 1, per: '1s', burst: 200, name: 'queries' })],
        concurrency: 4,
      },
      command: {
        match: () => true,
        limits: [tokenBucket({ rate: 1, per: '2s', burst: 100, name: 'commands' })],
        concurrency: 2,
      },
    },
    margin: 0.9,
  },
  rejection: { statuses: { rate: 429, concurrency: 429 } },
  // Limits are in force where the document says they are; pass `production` to count without rejecting.
  defaultEnvironment: 'dev',
  routes: [
    { method: 'GET', path: '/v1/api/listings/query', policies: ['marketplace-api-queries'] },
    { method: 'POST', path: '/v1/api/own_listings/create', policies: ['marketplace-api-commands'] },
    {
      method: 'GET',
      path: '/v1/integration_api/listings/query',
      policies: ['integration-api-queries', 'integration-api-concurrency'],
    },
    {
      method: 'POST',
      path: '/v1/integration_api/listings/update',
      policies: ['integration-api-commands', 'integration-api-concurrency'],
    },
    { method: 'POST', path: '/v1/auth/token', policies: [] },
  ],
});
