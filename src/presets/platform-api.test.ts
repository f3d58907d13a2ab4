import { afterEach, describe, expect, it } from 'vitest';
import { type PresetServer, type Sent, startPresetServer, T0 } from '../../test/presets/harness.js';
import { platformApi } from './platform-api.js';

/**
 * seeds/002 (Platform API): per account, `/platform/v2/process/{siteIdentifier}` 1 request per site per
 * 5 minutes, `/product/v2/site/{siteIdentifier}/stage/{stageName}/{stageId}` 60 per minute, every other
 * endpoint 5 per second individually; `X-RateLimit-Limit`, `X-Ratelimit-Remaining`, `X-Ratelimit-Retry-After`
 * (Unix time) on every response; 429 `{"success":false,"message":"Too many attempts."}`.
 */

const BODY = '{"success":false,"message":"Too many attempts."}';
const unix = (ms: number) => String(Math.ceil((T0 + ms) / 1000));
const a = { 'x-account': 'acct-a' };
const b = { 'x-account': 'acct-b' };

/** The three fields, by their names as the document spells them. */
const fields = (sent: Sent) => [
  sent.headers.get('X-RateLimit-Limit'),
  sent.headers.get('X-Ratelimit-Remaining'),
  sent.headers.get('X-Ratelimit-Retry-After'),
];

let server: PresetServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The written header names (with their case), of the last response. */
const names = () => server!.lastHeaderNames();

describe('preset platform-api (seeds/002)', () => {
  it('process endpoint: 1 request per site per 5 minutes, per account', async () => {
    server = await startPresetServer(platformApi);
    const first = await server.send('POST', '/platform/v2/process/site-1', a);
    expect(first.status).toBe(200);
    expect(fields(first)).toEqual(['1', '0', unix(300_000)]);
    expect(names()).toEqual([
      'X-RateLimit-Limit',
      'X-Ratelimit-Remaining',
      'X-Ratelimit-Retry-After',
      'Content-Type',
    ]);

    const denied = await server.send('POST', '/platform/v2/process/site-1', a);
    expect(denied.status).toBe(429);
    expect(denied.body).toBe(BODY);
    expect(denied.headers.get('content-type')).toBe('application/json');
    expect(fields(denied)).toEqual(['1', '0', unix(300_000)]);
    // The document's three fields and Content-Type, nothing else (no standard Retry-After).
    expect(names()).toEqual([
      'X-RateLimit-Limit',
      'X-Ratelimit-Remaining',
      'X-Ratelimit-Retry-After',
      'Content-Type',
    ]);
    expect((await server.send('GET', '/platform/v2/process/site-1', a)).status).toBe(429);

    // Per site, per account.
    expect((await server.send('POST', '/platform/v2/process/site-2', a)).status).toBe(200);
    expect((await server.send('POST', '/platform/v2/process/site-1', b)).status).toBe(200);

    server.clock.advance(299_999);
    const early = await server.send('POST', '/platform/v2/process/site-1', a);
    expect(early.status).toBe(429);
    expect(fields(early)).toEqual(['1', '0', unix(300_000)]);
    server.clock.advance(1);
    expect((await server.send('POST', '/platform/v2/process/site-1', a)).status).toBe(200);
    expect((await server.send('POST', '/platform/v2/process/site-1', a)).status).toBe(429);
  });

  it('product data read endpoint: 60 requests per minute per account', async () => {
    server = await startPresetServer(platformApi);
    const product = '/product/v2/site/site-1/stage/live/42';
    // 60 in the minute, all at once if the client likes: the 5-per-second rule of the other endpoints does
    // not apply to this one.
    const sent = await server.repeat(60, 'GET', product, a);
    expect(sent).toEqual(Array(60).fill(200));
    const denied = await server.send('GET', product, a);
    expect(denied.status).toBe(429);
    expect(denied.body).toBe(BODY);
    expect(fields(denied)).toEqual(['60', '0', unix(60_000)]);
    // The whole route, any site or stage; another account has its own 60.
    expect((await server.send('GET', '/product/v2/site/site-2/stage/draft/7', a)).status).toBe(429);
    expect((await server.send('GET', product, b)).status).toBe(200);

    server.clock.set(T0 + 59_999);
    expect((await server.send('GET', product, a)).status).toBe(429);
    server.clock.set(T0 + 60_000);
    expect((await server.send('GET', product, a)).status).toBe(200);
  });

  it('every other endpoint: 5 per second, each endpoint individually, per account', async () => {
    server = await startPresetServer(platformApi);
    const sent: Sent[] = [];
    for (let i = 0; i < 5; i++) sent.push(await server.send('GET', '/platform/v2/sites', a));
    expect(sent.map((s) => s.status)).toEqual(Array(5).fill(200));
    expect(sent.map(fields)).toEqual([4, 3, 2, 1, 0].map((left) => ['5', String(left), unix(1000)]));
    expect(names()).toEqual([
      'X-RateLimit-Limit',
      'X-Ratelimit-Remaining',
      'X-Ratelimit-Retry-After',
      'Content-Type',
    ]);

    const denied = await server.send('GET', '/platform/v2/sites', a);
    expect(denied.status).toBe(429);
    expect(denied.body).toBe(BODY);
    expect(fields(denied)).toEqual(['5', '0', unix(1000)]);
    expect(denied.headers.get('retry-after')).toBeNull();
    // No spelling of the same endpoint escapes it.
    expect((await server.send('GET', '/Platform/V2/Sites/', a)).status).toBe(429);
    expect((await server.send('GET', '/platform/v2/sites?page=2', a)).status).toBe(429);

    // Other endpoints (another path, another method) and other accounts: their own 5.
    const users = await server.send('GET', '/platform/v2/users', a);
    expect(users.status).toBe(200);
    expect(fields(users)).toEqual(['5', '4', unix(1000)]);
    expect((await server.send('POST', '/platform/v2/sites', a)).status).toBe(200);
    expect((await server.send('GET', '/platform/v2/sites', b)).status).toBe(200);

    server.clock.advance(999);
    expect((await server.send('GET', '/platform/v2/sites', a)).status).toBe(429);
    server.clock.advance(1);
    expect(await server.repeat(6, 'GET', '/platform/v2/sites', a)).toEqual([...Array(5).fill(200), 429]);
  });

  it('requests without an account share one budget (leaving the credential out escapes nothing)', async () => {
    server = await startPresetServer(platformApi);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push(
        (await server.send('GET', '/platform/v2/sites', { authorization: `Bearer t${i}` })).status,
      );
    expect(statuses).toEqual([...Array(5).fill(200), 429]);
  });
});
