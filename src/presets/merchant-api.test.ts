import { afterEach, describe, expect, it } from 'vitest';
import { type PresetServer, type Sent, startPresetServer, T0 } from '../../test/presets/harness.js';
import { merchantApi } from './merchant-api.js';

/**
 * seeds/003 (Merchant API): per API user, a token bucket of 10 requests per second with a burst capacity of
 * 60, 5 simultaneous requests (409 beyond), `RateLimit-Limit`, `RateLimit-Remaining`, `X-Concurrency-Limit`,
 * `X-Concurrency-Current`, `Retry-After` on 429; at most 6 API keys per merchant.
 */

const alice = { 'x-user': 'api-user-alice' };
const bob = { 'x-user': 'api-user-bob' };

const fields = (sent: Sent) => ({
  limit: sent.headers.get('ratelimit-limit'),
  remaining: sent.headers.get('ratelimit-remaining'),
  concurrency: [sent.headers.get('x-concurrency-limit'), sent.headers.get('x-concurrency-current')],
  retryAfter: sent.headers.get('retry-after'),
});

let server: PresetServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('preset merchant-api (seeds/003)', () => {
  it('the API key rules, verbatim (typographic apostrophe included)', () => {
    expect(merchantApi.keys).toEqual({
      maxActivePerAccount: 6,
      limitMessage:
        'You\u2019ve reached your limit of 6 API keys. Please delete any unused API keys and try again.',
    });
    expect(merchantApi.keys?.limitMessage).not.toContain("'");
  });

  it('a burst of 60, then 10 per second; exactly the documented fields; 429 with Retry-After', async () => {
    server = await startPresetServer(merchantApi);
    const first = await server.send('GET', '/v1/orders', alice);
    expect(first.status).toBe(200);
    expect(fields(first)).toEqual({
      limit: '60',
      remaining: '59',
      concurrency: ['5', '1'],
      retryAfter: null,
    });
    expect(server.lastHeaderNames()).toEqual([
      'RateLimit-Limit',
      'RateLimit-Remaining',
      'X-Concurrency-Limit',
      'X-Concurrency-Current',
      'Content-Type',
    ]);
    expect(new Set(await server.repeat(30, 'POST', '/v1/orders', alice))).toEqual(new Set([200]));
    expect(new Set(await server.repeat(29, 'POST', '/v1/rates', alice))).toEqual(new Set([200]));

    const denied = await server.send('GET', '/v1/orders', alice);
    expect(denied.status).toBe(429);
    expect(fields(denied)).toEqual({ limit: '60', remaining: '0', concurrency: ['5', '1'], retryAfter: '1' });
    expect(server.lastHeaderNames()).toEqual([
      'RateLimit-Limit',
      'RateLimit-Remaining',
      'X-Concurrency-Limit',
      'X-Concurrency-Current',
      'Retry-After',
      'Content-Type',
    ]);
    expect(denied.headers.get('content-type')).toBe('application/problem+json');
    expect(denied.body).toBe(
      '{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded",' +
        '"title":"Request cannot be satisfied as assigned quota has been exceeded",' +
        '"status":429,"detail":"Quota \\"merchant-api\\" exceeded; retry in 1 second.",' +
        '"violated-policies":["merchant-api"],' +
        '"policies":[{"name":"merchant-api","limit":60,"remaining":0,"retryAfter":1}],' +
        `"retryAfter":1,"nextValidRequestDate":"${new Date(T0 + 100).toISOString()}"}`,
    );

    // Keyed by API user, not by IP: another API user from the same address has a full bucket.
    expect(fields(await server.send('GET', '/v1/orders', bob)).remaining).toBe('59');

    // One token every 100 ms.
    server.clock.advance(99);
    expect((await server.send('GET', '/v1/orders', alice)).status).toBe(429);
    server.clock.advance(1);
    expect((await server.send('GET', '/v1/orders', alice)).status).toBe(200);
    expect((await server.send('GET', '/v1/orders', alice)).status).toBe(429);
    server.clock.advance(1000);
    expect(await server.repeat(11, 'GET', '/v1/orders', alice)).toEqual([...Array(10).fill(200), 429]);
    // Refilled completely after 6 s, never beyond 60.
    server.clock.advance(60_000);
    expect(await server.repeat(61, 'GET', '/v1/orders', alice)).toEqual([...Array(60).fill(200), 429]);
  });

  it('5 requests in flight: the 6th gets 409 with X-Concurrency-* and spends no rate budget', async () => {
    server = await startPresetServer(merchantApi);
    const held = Array.from({ length: 5 }, () => server!.send('POST', '/v1/orders?hold', alice));
    await server.holding(5);

    const busy = await server.send('GET', '/v1/orders', alice);
    expect(busy.status).toBe(409);
    expect(busy.headers.get('x-concurrency-limit')).toBe('5');
    expect(busy.headers.get('x-concurrency-current')).toBe('5');
    expect(busy.headers.get('retry-after')).toBeNull(); // "Only present when a 429 response is returned"
    // "included on every response, including rate-limited responses": the budget as it stands, unspent.
    expect(busy.headers.get('ratelimit-limit')).toBe('60');
    expect(busy.headers.get('ratelimit-remaining')).toBe('55');
    expect(busy.headers.get('content-type')).toBe('application/problem+json');
    expect(busy.body).toBe(
      '{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded",' +
        '"title":"Request cannot be satisfied as assigned quota has been exceeded",' +
        '"status":409,' +
        '"detail":"Too many concurrent requests for \\"merchant-api\\" (5 in flight, limit 5); retry when one completes.",' +
        '"violated-policies":["merchant-api"],"policies":[],' +
        '"concurrency":{"policy":"merchant-api","limit":5,"current":5}}',
    );
    expect((await server.send('POST', '/v1/rates', alice)).status).toBe(409);

    // Another API user is not held back.
    const other = await server.send('GET', '/v1/orders', bob);
    expect(other.status).toBe(200);
    expect(fields(other).concurrency).toEqual(['5', '1']);

    await server.releaseAll();
    expect((await Promise.all(held)).map((sent) => sent.status)).toEqual(Array(5).fill(200));
    const after = await server.send('GET', '/v1/orders', alice);
    expect(after.status).toBe(200);
    // 60 − the 5 held − this one: the two 409s took nothing.
    expect(fields(after)).toEqual({
      limit: '60',
      remaining: '54',
      concurrency: ['5', '1'],
      retryAfter: null,
    });
  });

  it('a request over the rate limit gives its concurrency slot back at once', async () => {
    server = await startPresetServer(merchantApi);
    const held = Array.from({ length: 4 }, () => server!.send('GET', '/v1/orders?hold', alice));
    await server.holding(4);
    expect(new Set(await server.repeat(56, 'GET', '/v1/orders', alice))).toEqual(new Set([200]));
    // Three requests over the rate limit while 4 are in flight: each takes the fifth slot and gives it back.
    for (let i = 0; i < 3; i++) {
      const denied = await server.send('GET', '/v1/orders', alice);
      expect(denied.status).toBe(429);
      expect(denied.headers.get('x-concurrency-current')).toBe('5');
    }
    server.clock.advance(100);
    const fifth = await server.send('GET', '/v1/orders', alice);
    expect(fifth.status).toBe(200);
    expect(fifth.headers.get('x-concurrency-current')).toBe('5');
    await server.releaseAll();
    await Promise.all(held);
  });
});
