import { afterEach, describe, expect, it } from 'vitest';
import { type PresetServer, type Sent, startPresetServer, T0 } from '../../test/presets/harness.js';
import { appPlatform } from './app-platform.js';

/**
 * seeds/001 (Fliplet): per user, Data Source APIs 200 requests every 10 s, Communicate APIs 20 every 30 s,
 * Audit logs APIs 30 every 10 s; App Actions 60 runs per minute for the entire app; 429 with Fliplet's body.
 */

const MESSAGE =
  "You've made too many attempts in a short period of time, please try again in a few seconds. Read more about rate limiting and how you may be affected by reading our documentation.";
/** The seed's body, compact, with the date the request may pass. */
const body = (nextValidRequestDate: string) =>
  `{"message":"${MESSAGE}","referenceUrl":"https://developers.fliplet.com/Rate-limiting-for-API.html","nextValidRequestDate":"${nextValidRequestDate}"}`;
const at = (ms: number) => new Date(T0 + ms).toISOString();

const alice = { 'x-user': 'alice' };
const bob = { 'x-user': 'bob' };

const expectRejected = (sent: Sent, retryAfterSeconds: number, nextValidRequestDate: string) => {
  expect(sent.status).toBe(429);
  expect(sent.headers.get('content-type')).toBe('application/json');
  expect(sent.headers.get('retry-after')).toBe(String(retryAfterSeconds));
  expect(sent.body).toBe(body(nextValidRequestDate));
};

let server: PresetServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('preset app-platform (seeds/001)', () => {
  it("the 429 body: the seed's members, text and order; the date in the seed's form (ISO 8601 UTC, ms)", async () => {
    // On the seed's day: the data source window of 17:13:20–17:13:30 is used up at 17:13:29.163Z, so the next
    // valid request date is the start of the next window. (The seed's own 17:13:32.363Z is not on a 10 s edge:
    // its server's windows are not the epoch-aligned ones of this preset.)
    server = await startPresetServer(appPlatform);
    server.clock.set(Date.parse('2021-02-15T17:13:29.163Z'));
    expect(new Set(await server.repeat(200, 'GET', '/v1/data-sources/1/data', alice))).toEqual(
      new Set([200]),
    );
    const denied = await server.send('GET', '/v1/data-sources/1/data', alice);
    expect(denied.status).toBe(429);
    expect(denied.body).toBe(body('2021-02-15T17:13:30.000Z'));
    expect(JSON.parse(denied.body)).toEqual({
      message: MESSAGE,
      referenceUrl: 'https://developers.fliplet.com/Rate-limiting-for-API.html',
      nextValidRequestDate: '2021-02-15T17:13:30.000Z',
    });
    expect(Object.keys(JSON.parse(denied.body))).toEqual(['message', 'referenceUrl', 'nextValidRequestDate']);
  });

  it('Data Source APIs: 200 per 10 s per user; reads and writes share it', async () => {
    server = await startPresetServer(appPlatform);
    const first = await server.send('GET', '/v1/data-sources/1/data', alice);
    expect(first.headers.get('ratelimit-policy')).toBe('"data-sources";q=200;w=10');
    expect(first.headers.get('ratelimit')).toBe('"data-sources";r=199;t=10');
    expect(server.lastHeaderNames()).toEqual(['RateLimit-Policy', 'RateLimit', 'Content-Type']);
    expect(new Set(await server.repeat(150, 'GET', '/v1/data-sources/1/data', alice))).toEqual(
      new Set([200]),
    );
    expect(new Set(await server.repeat(49, 'POST', '/v1/data-sources/2/commit', alice))).toEqual(
      new Set([200]),
    );

    const denied = await server.send('POST', '/v1/data-sources/1/data', alice);
    expectRejected(denied, 10, at(10_000));
    expect(denied.headers.get('ratelimit')).toBe('"data-sources";r=0;t=10');
    expect((await server.send('GET', '/v1/data-sources', alice)).status).toBe(429);
    // Per user: Bob has his own 200; Alice's other families are untouched.
    expect((await server.send('GET', '/v1/data-sources/1/data', bob)).status).toBe(200);
    expect((await server.send('POST', '/v1/communicate/email', alice)).status).toBe(200);

    server.clock.advance(9_999);
    expectRejected(await server.send('GET', '/v1/data-sources/1/data', alice), 1, at(10_000));
    server.clock.advance(1);
    expect(await server.repeat(201, 'GET', '/v1/data-sources/1/data', alice)).toEqual([
      ...Array(200).fill(200),
      429,
    ]);
  });

  it('Communicate APIs: 20 per 30 s per user', async () => {
    server = await startPresetServer(appPlatform);
    expect(new Set(await server.repeat(10, 'POST', '/v1/communicate/email', alice))).toEqual(new Set([200]));
    expect(new Set(await server.repeat(10, 'POST', '/v1/communicate/sms/batch', alice))).toEqual(
      new Set([200]),
    );
    const denied = await server.send('POST', '/v1/communicate/email/batch', alice);
    expectRejected(denied, 30, at(30_000));
    expect(denied.headers.get('ratelimit-policy')).toBe('"communicate";q=20;w=30');
    expect((await server.send('POST', '/v1/communicate/email', bob)).status).toBe(200);
    server.clock.advance(29_999);
    expect((await server.send('POST', '/v1/communicate/sms', alice)).status).toBe(429);
    server.clock.advance(1);
    expect(await server.repeat(21, 'POST', '/v1/communicate/sms', alice)).toEqual([
      ...Array(20).fill(200),
      429,
    ]);
  });

  it('Audit logs APIs: 30 per 10 s per user, organization and app logs together', async () => {
    server = await startPresetServer(appPlatform);
    expect(new Set(await server.repeat(15, 'GET', '/v1/organizations/7/logs', alice))).toEqual(
      new Set([200]),
    );
    expect(new Set(await server.repeat(15, 'POST', '/v1/apps/42/logs', alice))).toEqual(new Set([200]));
    const denied = await server.send('GET', '/v1/organizations/8/logs', alice);
    expectRejected(denied, 10, at(10_000));
    expect(denied.headers.get('ratelimit-policy')).toBe('"audit-logs";q=30;w=10');
    expect((await server.send('GET', '/v1/organizations/7/logs', bob)).status).toBe(200);
    server.clock.advance(10_000);
    expect((await server.send('GET', '/v1/apps/42/logs', alice)).status).toBe(200);
  });

  it('App Actions: 60 runs per minute for the whole app, whoever runs them', async () => {
    server = await startPresetServer(appPlatform);
    expect(new Set(await server.repeat(30, 'POST', '/v1/apps/42/actions/9/run', alice))).toEqual(
      new Set([200]),
    );
    expect(new Set(await server.repeat(30, 'POST', '/v1/apps/42/actions/10/run', bob))).toEqual(
      new Set([200]),
    );
    const denied = await server.send('POST', '/v1/apps/42/actions/9/run', { 'x-user': 'carol' });
    expectRejected(denied, 60, at(60_000));
    expect(denied.headers.get('ratelimit-policy')).toBe('"app-actions";q=60;w=60');
    // Another app has its own 60; reading the actions is not a run; the users' own limits are untouched.
    expect((await server.send('POST', '/v1/apps/43/actions/9/run', alice)).status).toBe(200);
    const read = await server.send('GET', '/v1/apps/42/actions', alice);
    expect(read.status).toBe(200);
    expect(read.headers.get('ratelimit')).toBeNull();
    expect((await server.send('GET', '/v1/apps/42/logs', alice)).status).toBe(200);

    server.clock.advance(59_999);
    expect((await server.send('POST', '/v1/apps/42/actions/9/run', alice)).status).toBe(429);
    server.clock.advance(1);
    expect((await server.send('POST', '/v1/apps/42/actions/9/run', alice)).status).toBe(200);
  });

  it('requests outside the four families are not limited', async () => {
    server = await startPresetServer(appPlatform);
    const apps = await server.send('GET', '/v1/apps', alice);
    expect(apps.status).toBe(200);
    expect(server.lastHeaderNames()).toEqual(['Content-Type']);
  });
});
