import { slidingWindow } from '../core/limits.js';
import { definePreset } from './define.js';

/*
 * Fliplet APIs, seed 001 "Rate limiting for APIs" (https://developers.fliplet.com/Rate-limiting-for-API.html,
 * Fliplet/fliplet-cli docs/Rate-limiting-for-API.md). Numbers, verbatim from the seed:
 *   "on a per-user basis": Data Source APIs up to 200 requests every 10 seconds; Communicate APIs up to 20
 *   requests every 30 seconds; Audit logs APIs up to 30 requests every 10 seconds;
 *   "App Actions: up to 60 runs per minute (for the entire app)"; status 429 with the body below.
 *
 * Choices (the seed names no paths, algorithm or key source):
 * - Paths, from Fliplet's REST API reference (Fliplet/fliplet-cli docs/REST-API): data sources
 *   `/v1/data-sources/…` (the seed links `POST /v1/data-sources/:dataSourceId/commit`), communicate
 *   `/v1/communicate/…` (`POST /v1/communicate/email`, `/sms`, `…/batch`), audit logs
 *   `GET or POST /v1/organizations/:id/logs` and the app's own `/v1/apps/:id/logs` (the latter not found in
 *   the reference: it is what the JS `Fliplet.App.Logs` API reads, unconfirmed). App Actions: no REST path
 *   was found; `POST /v1/apps/:appId/actions/…` stands for "running an action" (reads are not runs).
 * - Algorithm: a fixed window: "N requests every T" read as N per T-long period, which also makes the
 *   body's `nextValidRequestDate` the start of the next period ("try again in a few seconds").
 * - Key: `user` (the application's authenticated user: Fliplet authenticates with an `Auth-token` header);
 *   App Actions: the app id from the path (`{ param: 'appId' }`), shared by every user of the app.
 */

/** The seed's 429 body; `{nextValidRequestDate}` becomes the ISO 8601 time the request may pass. */
const BODY = {
  message:
    "You've made too many attempts in a short period of time, please try again in a few seconds. Read more about rate limiting and how you may be affected by reading our documentation.",
  referenceUrl: 'https://developers.fliplet.com/Rate-limiting-for-API.html',
  nextValidRequestDate: '{nextValidRequestDate}',
};

/**
 * Fliplet's APIs (seed 001): per user, Data Source APIs 200 requests per 10 s, Communicate APIs 20 per 30 s,
 * Audit logs APIs 30 per 10 s; App Actions 60 runs per minute per app; 429 with Fliplet's JSON body.
 *
 * @example
 * ```ts
 * const guard = sluiceNode(createEnforcer(presetOptions(appPlatform)), { identify: (req) => ({ user: sessionOf(req).userId }) });
 * ```
 */
export const appPlatform = definePreset({
  name: 'app-platform',
  description:
    'Fliplet APIs: per user, data sources 200 per 10 s, communicate 20 per 30 s, audit logs 30 per 10 s; app actions 60 runs per minute per app; 429 with a JSON body carrying nextValidRequestDate.',
  source: 'seeds/001 (Fliplet, "Rate limiting for APIs", developers.fliplet.com/Rate-limiting-for-API.html)',
  config: {
    policies: [
      {
        name: 'data-sources',
        match: { paths: ['/v1/data-sources/**'] },
        key: 'user',
        limits: [{ type: 'fixedWindow', limit: 200, window: '10s' }],
      },
      {
        name: 'communicate',
        match: { paths: ['/v1/communicate/**'] },
        key: 'user',
        limits: [{ type: 'fixedWindow', limit: 20, window: '30s' }],
      },
      {
        name: 'audit-logs',
        match: { paths: ['/v1/organizations/:organizationId/logs/**', '/v1/apps/:appId/logs/**'] },
        key: 'user',
        limits: [{ type: 'fixedWindow', limit: 30, window: '10s' }],
      },
      {
        name: 'app-actions',
        match: { methods: ['POST'], paths: ['/v1/apps/:appId/actions/**'] },
        key: { param: 'appId' },
        limits: [{ type: 'fixedWindow', limit: 60, window: '1m' }],
      },
    ],
  },
  // The document names no header field: sluice's standard fields (RateLimit-Policy and RateLimit).
  headers: { profiles: ['ietf'] },
  // Compact JSON, members in the document's order. The document prints the body one member per line with no
  // space after the colons: JSON.stringify output broken into lines by hand, so the wire form is taken to be
  // compact; `layout: 'lines'` gives the printed form byte for byte instead.
  rejection: { statuses: { rate: 429 }, template: BODY, contentType: 'application/json', layout: 'compact' },
  // Client: a class per documented limit, each a sliding window at margin 0.9 (never more than 90 % of the
  // limit in any of the server's fixed windows); app actions are counted per app on the server, here for
  // all apps together (conservative; add a class per app for several busy apps); other requests unpaced
  // but still adaptive (they learn from the RateLimit fields). A 429's nextValidRequestDate is honoured.
  client: {
    classes: {
      'data-sources': {
        match: (_method, url) => url.pathname.startsWith('/v1/data-sources/'),
        limits: [slidingWindow({ limit: 200, window: '10s', name: 'data-sources' })],
      },
      communicate: {
        match: (_method, url) => url.pathname.startsWith('/v1/communicate/'),
        limits: [slidingWindow({ limit: 20, window: '30s', name: 'communicate' })],
      },
      'audit-logs': {
        match: (_method, url) => /^\/v1\/(?:organizations|apps)\/[^/]+\/logs(?:\/|$)/.test(url.pathname),
        limits: [slidingWindow({ limit: 30, window: '10s', name: 'audit-logs' })],
      },
      'app-actions': {
        match: (method, url) => method === 'POST' && /^\/v1\/apps\/[^/]+\/actions\//.test(url.pathname),
        limits: [slidingWindow({ limit: 60, window: '1m', name: 'app-actions' })],
      },
      other: { match: () => true },
    },
    margin: 0.9,
  },
  routes: [
    { method: 'GET', path: '/v1/data-sources/123/data', policies: ['data-sources'] },
    { method: 'POST', path: '/v1/data-sources/123/commit', policies: ['data-sources'] },
    { method: 'POST', path: '/v1/communicate/email', policies: ['communicate'] },
    { method: 'POST', path: '/v1/communicate/sms/batch', policies: ['communicate'] },
    { method: 'GET', path: '/v1/organizations/7/logs', policies: ['audit-logs'] },
    { method: 'GET', path: '/v1/apps/42/logs', policies: ['audit-logs'] },
    { method: 'POST', path: '/v1/apps/42/actions/9/run', policies: ['app-actions'] },
    { method: 'GET', path: '/v1/apps/42/actions', policies: [] },
    { method: 'GET', path: '/v1/apps', policies: [] },
  ],
});
