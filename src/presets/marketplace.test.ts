import { afterEach, describe, expect, it } from 'vitest';
import { type PresetServer, type Sent, startPresetServer, T0 } from '../../test/presets/harness.js';
import { marketplace } from './marketplace.js';

/**
 * seeds/000 (Sharetribe): per client IP, queries 1/s with bursts of 200, commands 1 per 2 s with bursts of
 * 100, separately for the Marketplace API and the Integration API; at most 10 Integration API requests in
 * flight; enforced in dev and demo, shadow in production.
 */

const INTEGRATION_QUERY = '/v1/integration_api/listings/query';
const INTEGRATION_COMMAND = '/v1/integration_api/listings/update';
const MARKETPLACE_QUERY = '/v1/api/listings/query';
const MARKETPLACE_COMMAND = '/v1/api/own_listings/create';

const problem = (policy: string, limit: number, retryAfter: number) =>
  '{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded",' +
  '"title":"Request cannot be satisfied as assigned quota has been exceeded",' +
  `"status":429,"detail":"Quota \\"${policy}\\" exceeded; retry in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.",` +
  `"violated-policies":["${policy}"],` +
  `"policies":[{"name":"${policy}","limit":${limit},"remaining":0,"retryAfter":${retryAfter}}],` +
  `"retryAfter":${retryAfter},"nextValidRequestDate":"${new Date(T0 + retryAfter * 1000).toISOString()}"}`;

const fields = (sent: Sent) => ({
  policy: sent.headers.get('ratelimit-policy'),
  current: sent.headers.get('ratelimit'),
  retryAfter: sent.headers.get('retry-after'),
  concurrency: [sent.headers.get('x-concurrency-limit'), sent.headers.get('x-concurrency-current')],
});

let server: PresetServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('preset marketplace (seeds/000)', () => {
  it('is enforced in dev by default, with modes dev/demo enforce and production shadow', () => {
    expect(marketplace.defaultEnvironment).toBe('dev');
    for (const policy of marketplace.config.policies) {
      expect(policy.modes).toEqual({ dev: 'enforce', demo: 'enforce', production: 'shadow' });
      expect(policy.key).toBe('ip');
    }
  });

  it('Integration API queries: a burst of 200, then 1 per second; 429 with Retry-After and a problem body', async () => {
    server = await startPresetServer(marketplace);
    const first = await server.send('GET', INTEGRATION_QUERY);
    expect(first.status).toBe(200);
    expect(fields(first)).toEqual({
      policy: '"integration-api-queries";q=200;w=200',
      current: '"integration-api-queries";r=199;t=1',
      retryAfter: null,
      concurrency: ['10', '1'],
    });
    expect(server.lastHeaderNames()).toEqual([
      'RateLimit-Policy',
      'RateLimit',
      'X-Concurrency-Limit',
      'X-Concurrency-Current',
      'Content-Type',
    ]);
    expect(new Set(await server.repeat(199, 'GET', INTEGRATION_QUERY))).toEqual(new Set([200]));

    const denied = await server.send('GET', INTEGRATION_QUERY);
    expect(denied.status).toBe(429);
    expect(denied.headers.get('content-type')).toBe('application/problem+json');
    expect(fields(denied)).toEqual({
      policy: '"integration-api-queries";q=200;w=200',
      current: '"integration-api-queries";r=0;t=200',
      retryAfter: '1',
      concurrency: ['10', '1'],
    });
    expect(denied.body).toBe(problem('integration-api-queries', 200, 1));

    // HEAD is a query too, and a query is not a command: both answered by their own budget.
    expect((await server.send('HEAD', INTEGRATION_QUERY)).status).toBe(429);
    expect((await server.send('POST', INTEGRATION_COMMAND)).status).toBe(200);
    // The Marketplace API keeps its own budget.
    expect((await server.send('GET', MARKETPLACE_QUERY)).status).toBe(200);

    server.clock.advance(999);
    expect((await server.send('GET', INTEGRATION_QUERY)).status).toBe(429);
    server.clock.advance(1);
    expect((await server.send('GET', INTEGRATION_QUERY)).status).toBe(200);
    expect((await server.send('GET', INTEGRATION_QUERY)).status).toBe(429);
    server.clock.advance(10_000);
    expect(await server.repeat(11, 'GET', INTEGRATION_QUERY)).toEqual([...Array(10).fill(200), 429]);
  });

  it('Integration API commands: a burst of 100, then 1 per 2 seconds', async () => {
    server = await startPresetServer(marketplace);
    expect(new Set(await server.repeat(100, 'POST', INTEGRATION_COMMAND))).toEqual(new Set([200]));
    const denied = await server.send('PUT', INTEGRATION_COMMAND);
    expect(denied.status).toBe(429);
    expect(fields(denied).current).toBe('"integration-api-commands";r=0;t=200');
    expect(denied.headers.get('retry-after')).toBe('2');
    expect(denied.body).toBe(problem('integration-api-commands', 100, 2));
    expect((await server.send('GET', INTEGRATION_QUERY)).status).toBe(200);

    server.clock.advance(1999);
    expect((await server.send('DELETE', INTEGRATION_COMMAND)).status).toBe(429);
    server.clock.advance(1);
    expect((await server.send('POST', INTEGRATION_COMMAND)).status).toBe(200);
    expect((await server.send('POST', INTEGRATION_COMMAND)).status).toBe(429);
  });

  it('Marketplace API: the same numbers, its own budgets, no concurrency limit', async () => {
    server = await startPresetServer(marketplace);
    expect(new Set(await server.repeat(200, 'GET', MARKETPLACE_QUERY))).toEqual(new Set([200]));
    const denied = await server.send('GET', MARKETPLACE_QUERY);
    expect(denied.status).toBe(429);
    expect(denied.body).toBe(problem('marketplace-api-queries', 200, 1));
    expect(denied.headers.get('x-concurrency-limit')).toBeNull();

    expect(new Set(await server.repeat(100, 'POST', MARKETPLACE_COMMAND))).toEqual(new Set([200]));
    const command = await server.send('POST', MARKETPLACE_COMMAND);
    expect(command.status).toBe(429);
    expect(command.body).toBe(problem('marketplace-api-commands', 100, 2));

    expect((await server.send('GET', INTEGRATION_QUERY)).status).toBe(200);
    expect((await server.send('POST', INTEGRATION_COMMAND)).status).toBe(200);
    // The Authentication API is not limited: no fields at all.
    const token = await server.send('POST', '/v1/auth/token');
    expect(token.status).toBe(200);
    expect(server.lastHeaderNames()).toEqual(['Content-Type']);
  });

  it('keys by client IP: each address its own budget (behind a trusted proxy)', async () => {
    server = await startPresetServer(marketplace, { clientIp: { trustProxy: ['loopback'] } });
    const a = { 'x-forwarded-for': '203.0.113.7' };
    const b = { 'x-forwarded-for': '198.51.100.23' };
    expect(new Set(await server.repeat(100, 'POST', INTEGRATION_COMMAND, a))).toEqual(new Set([200]));
    expect((await server.send('POST', INTEGRATION_COMMAND, a)).status).toBe(429);
    expect((await server.send('POST', INTEGRATION_COMMAND, b)).status).toBe(200);
    // Credentials do not matter, only the address.
    expect(
      (await server.send('POST', INTEGRATION_COMMAND, { ...a, authorization: 'Bearer other' })).status,
    ).toBe(429);
  });

  it('Integration API: 10 requests in flight; the 11th gets 429 and spends no rate budget', async () => {
    server = await startPresetServer(marketplace);
    const held = Array.from({ length: 10 }, (_, i) =>
      server!.send(
        i % 2 === 0 ? 'GET' : 'POST',
        `${i % 2 === 0 ? INTEGRATION_QUERY : INTEGRATION_COMMAND}?hold`,
      ),
    );
    await server.holding(10);
    const busy = await server.send('GET', INTEGRATION_QUERY);
    expect(busy.status).toBe(429);
    expect(busy.headers.get('x-concurrency-limit')).toBe('10');
    expect(busy.headers.get('x-concurrency-current')).toBe('10');
    expect(busy.headers.get('retry-after')).toBeNull();
    expect(JSON.parse(busy.body)).toEqual({
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      title: 'Request cannot be satisfied as assigned quota has been exceeded',
      status: 429,
      detail:
        'Too many concurrent requests for "integration-api-concurrency" (10 in flight, limit 10); retry when one completes.',
      'violated-policies': ['integration-api-concurrency'],
      policies: [],
      concurrency: { policy: 'integration-api-concurrency', limit: 10, current: 10 },
    });
    // The Marketplace API has no concurrency limit.
    expect((await server.send('GET', MARKETPLACE_QUERY)).status).toBe(200);

    await server.releaseAll();
    expect((await Promise.all(held)).map((sent) => sent.status)).toEqual(Array(10).fill(200));
    const after = await server.send('GET', INTEGRATION_QUERY);
    expect(after.status).toBe(200);
    // 5 held queries and this one: the turned-away request took nothing from the 200.
    expect(fields(after).current).toBe('"integration-api-queries";r=194;t=6');
    expect(after.headers.get('x-concurrency-current')).toBe('1');
  });

  it('production: shadow: nothing is rejected, the fields are still announced', async () => {
    server = await startPresetServer(marketplace, { environment: 'production' });
    expect(new Set(await server.repeat(200, 'GET', INTEGRATION_QUERY))).toEqual(new Set([200]));
    const over = await server.send('GET', INTEGRATION_QUERY);
    expect(over.status).toBe(200);
    expect(fields(over)).toEqual({
      policy: '"integration-api-queries";q=200;w=200',
      current: '"integration-api-queries";r=0;t=200',
      retryAfter: null,
      concurrency: ['10', '1'],
    });
    expect(new Set(await server.repeat(101, 'POST', MARKETPLACE_COMMAND))).toEqual(new Set([200]));

    const held = Array.from({ length: 10 }, () => server!.send('GET', `${INTEGRATION_QUERY}?hold`));
    await server.holding(10);
    const eleventh = await server.send('GET', INTEGRATION_QUERY);
    expect(eleventh.status).toBe(200);
    expect(eleventh.headers.get('x-concurrency-limit')).toBe('10');
    await server.releaseAll();
    await Promise.all(held);
  });

  it('demo enforces like dev', async () => {
    server = await startPresetServer(marketplace, { environment: 'demo' });
    expect(await server.repeat(101, 'POST', INTEGRATION_COMMAND)).toEqual([...Array(100).fill(200), 429]);
  });
});
