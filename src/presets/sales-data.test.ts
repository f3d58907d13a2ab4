import { afterEach, describe, expect, it } from 'vitest';
import { type PresetServer, startPresetServer, T0 } from '../../test/presets/harness.js';
import { salesData } from './sales-data.js';

/** seeds/004 (Sales Layer): 50 requests per 10 seconds; here a fixed window per API key, 429 beyond. */

const key1 = { 'x-api-key': 'sl-key-1' };
const key2 = { 'x-api-key': 'sl-key-2' };

let server: PresetServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('preset sales-data (seeds/004)', () => {
  it('50 requests per 10 seconds per API key; 429 with Retry-After and a problem body', async () => {
    server = await startPresetServer(salesData);
    const first = await server.send('GET', '/products', key1);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"sales-data";q=50;w=10');
    expect(first.headers.get('ratelimit')).toBe('"sales-data";r=49;t=10');
    expect(server.lastHeaderNames()).toEqual(['RateLimit-Policy', 'RateLimit', 'Content-Type']);
    expect(new Set(await server.repeat(24, 'GET', '/categories', key1))).toEqual(new Set([200]));
    expect(new Set(await server.repeat(25, 'PATCH', '/products/123', key1))).toEqual(new Set([200]));

    const denied = await server.send('GET', '/products', key1);
    expect(denied.status).toBe(429);
    expect(denied.headers.get('retry-after')).toBe('10');
    expect(denied.headers.get('ratelimit')).toBe('"sales-data";r=0;t=10');
    expect(denied.headers.get('content-type')).toBe('application/problem+json');
    expect(denied.body).toBe(
      '{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded",' +
        '"title":"Request cannot be satisfied as assigned quota has been exceeded",' +
        '"status":429,"detail":"Quota \\"sales-data\\" exceeded; retry in 10 seconds.",' +
        '"violated-policies":["sales-data"],' +
        '"policies":[{"name":"sales-data","limit":50,"remaining":0,"retryAfter":10}],' +
        `"retryAfter":10,"nextValidRequestDate":"${new Date(T0 + 10_000).toISOString()}"}`,
    );

    // Another API key: its own 50.
    expect(await server.repeat(51, 'GET', '/products', key2)).toEqual([...Array(50).fill(200), 429]);

    server.clock.advance(9_999);
    const late = await server.send('GET', '/products', key1);
    expect(late.status).toBe(429);
    expect(late.headers.get('retry-after')).toBe('1');
    server.clock.advance(1);
    expect(await server.repeat(51, 'GET', '/products', key1)).toEqual([...Array(50).fill(200), 429]);
  });

  it('the key is the X-API-Key header (hashed): requests without one share a single budget', async () => {
    server = await startPresetServer(salesData);
    expect(await server.repeat(51, 'GET', '/products')).toEqual([...Array(50).fill(200), 429]);
    // Other credentials than X-API-Key do not make a new budget.
    expect((await server.send('GET', '/products', { authorization: 'Bearer other' })).status).toBe(429);
    expect((await server.send('GET', '/products', key1)).status).toBe(200);
  });
});
