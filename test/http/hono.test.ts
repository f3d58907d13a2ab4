import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type HttpBindings, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/core/clock.js';
import { sluiceFetch } from '../../src/http/fetch.js';
import { parsePolicies } from '../../src/policy/config.js';
import { createEnforcer } from '../../src/policy/enforce.js';
import { createMemoryStore } from '../../src/store/memory/memory-store.js';

describe('the fetch adapter as Hono middleware (@hono/node-server, a real server)', () => {
  it('announces the limit, answers 429 with the problem body, and keys by the socket address', async () => {
    const clock = createManualClock(1_700_000_040_000);
    const enforcer = createEnforcer({
      policies: parsePolicies({
        policies: [{ name: 'per-ip', limits: [{ type: 'fixedWindow', limit: 2, window: '1m' }] }],
      }),
      store: createMemoryStore({ clock: clock.now }),
      clock: clock.now,
    });
    const check = sluiceFetch<HttpBindings>(enforcer, {
      remoteAddress: (_request, env) => (env?.incoming as IncomingMessage | undefined)?.socket.remoteAddress,
    });
    const app = new Hono<{ Bindings: HttpBindings }>();
    app.use(async (c, next) => {
      const result = await check(c.req.raw, c.env);
      if (result.rejected) return result.rejected;
      await next();
      c.res = result.decorate(c.res);
      return undefined;
    });
    app.get('/items', (c) => c.json({ ok: true }));

    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/items`;
    try {
      const first = await fetch(url);
      expect(await first.json()).toEqual({ ok: true });
      expect(first.headers.get('ratelimit')).toBe('"per-ip";r=1;t=60');
      expect(first.headers.get('ratelimit-policy')).toBe('"per-ip";q=2;w=60');
      await (await fetch(url)).arrayBuffer();
      const denied = await fetch(url);
      expect(denied.status).toBe(429);
      expect(denied.headers.get('retry-after')).toBe('60');
      expect(denied.headers.get('content-type')).toBe('application/problem+json');
      expect(await denied.json()).toMatchObject({ status: 429, 'violated-policies': ['per-ip'] });
      const applied = enforcer.decide({
        method: 'GET',
        path: '/items',
        headers: {},
        remoteAddress: '127.0.0.1',
      });
      expect((await applied).applied[0]?.key).toBe('ip=127.0.0.1'); // the socket address was the key
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
