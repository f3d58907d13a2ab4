import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { header, request, setup, T0 } from '../../test/support/enforce.js';
import { createManualClock } from '../core/clock.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import { parsePolicies } from './config.js';
import { createEnforcer } from './enforce.js';

describe('the enforcer', () => {
  it('checks every matching policy atomically: a request denied by one consumes nothing from the others', async () => {
    const { enforcer } = setup({
      policies: [
        { name: 'per-ip', key: 'ip', limits: [{ type: 'fixedWindow', limit: 2, window: '1m' }] },
        { name: 'per-key', key: 'apiKey', limits: [{ type: 'fixedWindow', limit: 5, window: '1m' }] },
      ],
    });
    const withKey = request({ headers: { 'x-api-key': 'secret-key-1' } });
    expect((await enforcer.decide(withKey)).allowed).toBe(true);
    expect((await enforcer.decide(withKey)).allowed).toBe(true);
    const denied = await enforcer.decide(withKey);
    expect(denied.allowed).toBe(false);
    expect(denied.rejection?.status).toBe(429);
    expect(header(denied.headers, 'Retry-After')).toBe('60');
    expect(JSON.parse(denied.rejection!.body)).toMatchObject({ status: 429 });
    // From another IP, the same API key still has 3 left: the denied request took nothing from it.
    const other = await enforcer.decide({ ...withKey, remoteAddress: '198.51.100.7' });
    expect(other.allowed).toBe(true);
    expect(other.applied.find((a) => a.policy.name === 'per-key')?.decisions[0]?.remaining).toBe(2);
    expect(header(other.headers, 'RateLimit')).toBe('"per-ip";r=1;t=60, "per-key";r=2;t=60');
  });

  it('hashes API keys and bearer tokens, each read from its one source; a missing one shares a budget', async () => {
    const { enforcer } = setup({
      policies: [
        { name: 'k', key: 'apiKey', limits: [{ type: 'fixedWindow', limit: 5, window: '1m' }] },
        {
          name: 'b',
          key: 'bearer',
          whenMissing: 'skip',
          limits: [{ type: 'fixedWindow', limit: 5, window: '1m' }],
        },
      ],
    });
    const both = await enforcer.decide(
      request({ headers: { authorization: 'Bearer tok-123', 'x-api-key': 'key-9' } }),
    );
    const byName = (name: string) => both.applied.find((a) => a.policy.name === name)?.key;
    expect(byName('k')).not.toContain('key-9');
    expect(byName('b')).not.toContain('tok-123');
    // A junk bearer token next to the real API key changes nothing for the API-key policy.
    const junk = await enforcer.decide(
      request({ headers: { authorization: 'Bearer junk-1', 'x-api-key': 'key-9' } }),
    );
    expect(junk.applied.find((a) => a.policy.name === 'k')?.key).toBe(byName('k'));
    // No API key: one shared budget ('k'); no bearer: 'b' (whenMissing: skip) does not apply.
    const none = await enforcer.decide(request());
    expect(none.applied.map((a) => [a.policy.name, a.key])).toEqual([['k', 'apiKey~missing']]);
  });

  it('shadow policies count and announce but never reject; off policies do nothing', async () => {
    const { enforcer } = setup({
      environment: 'production',
      policies: [
        {
          name: 'shadowed',
          limits: [{ type: 'fixedWindow', limit: 1, window: '1m' }],
          modes: { production: 'shadow' },
        },
        { name: 'off', limits: [{ type: 'fixedWindow', limit: 1, window: '1m' }], mode: 'off' },
      ],
    });
    await enforcer.decide(request());
    const second = await enforcer.decide(request());
    expect(second.allowed).toBe(true);
    expect(second.applied.map((a) => [a.policy.name, a.mode, a.decisions[0]?.allowed])).toEqual([
      ['shadowed', 'shadow', false],
    ]);
    expect(header(second.headers, 'RateLimit')).toBe('"shadowed";r=0;t=60');
  });

  it('scope endpoint gives each route its own budget; a route parameter keys a policy', async () => {
    const { enforcer } = setup({
      policies: [
        {
          name: 'process',
          match: { methods: ['POST'], paths: ['/platform/v2/process/:siteIdentifier'] },
          key: [{ param: 'siteIdentifier' }],
          limits: [{ type: 'tokenBucket', rate: 1, per: '5m', burst: 1 }],
        },
        {
          name: 'others',
          match: { paths: ['/**'] },
          scope: 'endpoint',
          key: 'ip',
          limits: [{ type: 'fixedWindow', limit: 1, window: '1s' }],
        },
      ],
    });
    const post = (path: string) => enforcer.decide(request({ method: 'POST', path }));
    expect((await post('/platform/v2/process/site-1')).allowed).toBe(true);
    expect((await post('/platform/v2/process/site-1')).allowed).toBe(false); // one per site per 5 minutes
    expect((await post('/platform/v2/process/site-2')).allowed).toBe(true); // another site, another endpoint
    expect((await enforcer.decide(request({ path: '/a' }))).allowed).toBe(true);
    expect((await enforcer.decide(request({ path: '/b' }))).allowed).toBe(true);
    expect((await enforcer.decide(request({ path: '/a' }))).allowed).toBe(false);
  });

  it('a concurrency limit answers with its own status, spends no rate budget, and release frees the slot', async () => {
    const { enforcer } = setup(
      {
        policies: [
          {
            name: 'merchant',
            key: 'ip',
            limits: [{ type: 'tokenBucket', rate: 10, per: '1s', burst: 60 }],
            concurrency: { max: 1 },
          },
        ],
      },
      { statuses: { concurrency: 409 } },
    );
    const first = await enforcer.decide(request());
    expect(first.allowed).toBe(true);
    expect([
      header(first.headers, 'X-Concurrency-Limit'),
      header(first.headers, 'X-Concurrency-Current'),
    ]).toEqual(['1', '1']);
    const second = await enforcer.decide(request());
    expect(second.rejection?.status).toBe(409);
    // The rejection names the policy whose concurrency limit it hit.
    const body = JSON.parse(second.rejection!.body);
    expect(body['violated-policies']).toEqual(['merchant']);
    expect(body.concurrency).toEqual({ policy: 'merchant', limit: 1, current: 1 });
    expect(body.detail).toContain('"merchant"');
    await first.release();
    const third = await enforcer.decide(request());
    expect(third.allowed).toBe(true);
    expect(third.applied[0]?.decisions[0]?.remaining).toBe(58); // the 409 spent nothing
  });

  it('gives its concurrency slots back when the store fails mid-decision', async () => {
    const clock = createManualClock(T0);
    const memory = createMemoryStore({ clock: clock.now });
    let failing = true;
    const store = {
      ...memory,
      consume: async (...args: Parameters<typeof memory.consume>) => {
        if (failing) throw new Error('store down');
        return memory.consume(...args);
      },
    };
    const policies = parsePolicies({
      policies: [
        { name: 'p', limits: [{ type: 'fixedWindow', limit: 10, window: '1m' }], concurrency: { max: 1 } },
      ],
    });
    const enforcer = createEnforcer({ policies, store, clock: clock.now });
    await expect(enforcer.decide(request())).rejects.toThrow(/store down/);
    failing = false;
    expect((await enforcer.decide(request())).allowed).toBe(true); // the slot was not leaked
  });

  it("keeps the rejection's Content-Type out of the verdict's header fields", async () => {
    const { enforcer } = setup({
      policies: [{ name: 'p', limits: [{ type: 'fixedWindow', limit: 1, window: '1m' }] }],
    });
    await enforcer.decide(request());
    const denied = await enforcer.decide(request());
    expect(header(denied.headers, 'Content-Type')).toBeUndefined();
    expect(header(denied.rejection!.headers, 'Content-Type')).toBe('application/problem+json');
  });

  it('property: any request shape is decided without throwing, and no key carries a raw API key', async () => {
    const { enforcer } = setup({
      policies: [
        { name: 'ip', limits: [{ type: 'fixedWindow', limit: 1000, window: '1m' }] },
        {
          name: 'key',
          key: ['apiKey', { header: 'x-tenant' }],
          limits: [{ type: 'fixedWindow', limit: 1000, window: '1m' }],
        },
        {
          name: 'route',
          match: { paths: ['/a/:id/**'] },
          key: [{ param: 'id' }, 'user'],
          scope: 'endpoint',
          limits: [{ type: 'tokenBucket', rate: 10 }],
        },
      ],
    });
    const value = fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }), fc.constant(undefined));
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          method: fc.oneof(fc.constantFrom('GET', 'post', 'PATCH'), fc.string()),
          path: fc.oneof(
            fc.string(),
            fc.string().map((s) => `/a/${s}/b`),
          ),
          remoteAddress: fc.oneof(fc.constant(undefined), fc.ipV4(), fc.ipV6(), fc.string()),
          authorization: value,
          apiKey: fc.string({ minLength: 8 }).map((s) => `sk_live_${s}`),
          tenant: value,
          user: fc.oneof(fc.constant(undefined), fc.string()),
        }),
        async ({ method, path, remoteAddress, authorization, apiKey, tenant, user }) => {
          const verdict = await enforcer.decide({
            method,
            path,
            remoteAddress,
            user,
            headers: { authorization, 'x-api-key': apiKey, 'x-tenant': tenant },
          });
          for (const applied of verdict.applied)
            expect(applied.key).not.toContain(encodeURIComponent(apiKey));
          await verdict.release();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('no spelling of a path escapes its limit: absolute form, case, percent-encoding, slashes, HEAD', async () => {
    const { enforcer } = setup({
      policies: [
        {
          name: 'process',
          match: { methods: ['GET'], paths: ['/platform/v2/process/:site'] },
          key: [{ param: 'site' }],
          limits: [{ type: 'fixedWindow', limit: 1, window: '1m' }],
        },
        {
          name: 'per-endpoint',
          match: { paths: ['/**'] },
          scope: 'endpoint',
          limits: [{ type: 'fixedWindow', limit: 100, window: '1m' }],
        },
      ],
    });
    expect((await enforcer.decide(request({ path: '/platform/v2/process/site-1' }))).allowed).toBe(true);
    for (const path of [
      'http://evil.example/platform/v2/process/site-1',
      '/Platform/V2/process/site-1',
      '/platform/v2/%70rocess/site-1',
      '/platform//v2/process/site-1/',
      '/platform/v2/process/site%2D1?x=1',
    ]) {
      expect((await enforcer.decide(request({ path }))).allowed, path).toBe(false);
    }
    expect(
      (await enforcer.decide(request({ method: 'HEAD', path: '/platform/v2/process/site-1' }))).allowed,
    ).toBe(false);
    const endpointKeys = new Set();
    for (const path of ['/items', '/items/', '//items', '/Items', '/%69tems', 'http://h/items?q']) {
      const verdict = await enforcer.decide(request({ path }));
      endpointKeys.add(verdict.applied.find((a) => a.policy.name === 'per-endpoint')?.key);
    }
    expect(endpointKeys.size).toBe(1);
  });

  it('a failing shadow policy never affects the response', async () => {
    const clock = createManualClock(T0);
    const memory = createMemoryStore({ clock: clock.now });
    const policies = parsePolicies({
      policies: [
        { name: 'live', limits: [{ type: 'fixedWindow', limit: 10, window: '1m' }] },
        {
          name: 'trial',
          mode: 'shadow',
          key: 'apiKey',
          limits: [{ type: 'fixedWindow', limit: 1, window: '1m' }],
        },
      ],
    });
    const store = {
      ...memory,
      consume: async (checks: Parameters<typeof memory.consume>[0]) => {
        if (checks.some((c) => c.limit.id.startsWith('policy:trial'))) throw new Error('shadow store down');
        return memory.consume(checks);
      },
    };
    const enforcer = createEnforcer({ policies, store, clock: clock.now });
    const verdict = await enforcer.decide(request());
    expect(verdict.allowed).toBe(true);
    expect(verdict.applied.find((a) => a.policy.name === 'live')?.decisions[0]?.remaining).toBe(9);
  });

  it('keys credentials by an HMAC with keySecret, and shadow quotas never bind the single-policy headers', async () => {
    const policies = parsePolicies({
      policies: [
        { name: 'live', key: 'apiKey', limits: [{ type: 'fixedWindow', limit: 10, window: '1m' }] },
        { name: 'trial', mode: 'shadow', limits: [{ type: 'fixedWindow', limit: 1, window: '1m' }] },
      ],
    });
    const clock = createManualClock(T0);
    const plain = createEnforcer({
      policies,
      store: createMemoryStore({ clock: clock.now }),
      clock: clock.now,
    });
    const keyed = createEnforcer({
      policies,
      store: createMemoryStore({ clock: clock.now }),
      clock: clock.now,
      keySecret: 'deployment-secret',
      headers: { profiles: ['legacy'] },
    });
    const req = request({ headers: { 'x-api-key': 'k-1' } });
    const a = (await plain.decide(req)).applied[0]!.key;
    const b = await keyed.decide(req);
    expect(b.applied[0]!.key).not.toBe(a);
    await keyed.decide(req);
    const third = await keyed.decide(req);
    // The shadow policy is exhausted (remaining 0) but the legacy fields report the enforced one.
    expect(header(third.headers, 'X-RateLimit-Limit')).toBe('10');
    expect(header(third.headers, 'X-RateLimit-Remaining')).toBe('7');
  });

  it('keeps the concurrency slot of a long request alive by renewing its lease, until released', async () => {
    const enforcer = createEnforcer({
      policies: parsePolicies({ policies: [{ name: 'c', concurrency: { max: 1, ttl: '100ms' } }] }),
    });
    const long = await enforcer.decide(request());
    expect(long.allowed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 350)); // three and a half lease lifetimes
    expect((await enforcer.decide(request())).allowed).toBe(false); // still held: renewed
    await long.release();
    expect((await enforcer.decide(request())).allowed).toBe(true);
  });
});
