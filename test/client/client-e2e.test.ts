import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { fixedWindow } from '../../src/core/limits.js';
import { sluiceNode } from '../../src/http/node.js';
import { parsePolicies } from '../../src/policy/config.js';
import { createEnforcer } from '../../src/policy/enforce.js';

/** A real sluice server on loopback enforcing `limit` requests per second (a fixed window); counts statuses. */
async function startServer(limit: number) {
  const enforcer = createEnforcer({
    policies: parsePolicies({
      policies: [{ name: 'api', limits: [{ type: 'fixedWindow', limit, window: '1s' }] }],
    }),
  });
  const guard = sluiceNode(enforcer);
  const statuses: number[] = [];
  const server = createServer(async (req, res) => {
    res.once('finish', () => statuses.push(res.statusCode));
    if ((await guard(req, res)) === undefined) return;
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const count = (status: number) => statuses.filter((s) => s === status).length;
  return { url, statuses, count, close: () => server.close() };
}

const LIMIT = 20;

describe('the client against a real sluice server (fixed window, 20 per second)', () => {
  it('with the limits known (at margin 0.9): 30 requests, zero 429s', async () => {
    const server = await startServer(LIMIT);
    try {
      const client = createClient({
        baseUrl: server.url,
        classes: { query: { limits: [fixedWindow({ limit: LIMIT, window: '1s' })] }, command: {} },
      });
      const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => client.fetch(`items/${i}`)));
      await Promise.all(responses.map((r) => r.text()));
      expect(responses.map((r) => r.status)).toEqual(Array(30).fill(200));
      expect(server.count(429)).toBe(0);
      expect(client.stats().query).toMatchObject({ throttles: 0, retries: 0, running: 0 });
    } finally {
      server.close();
    }
  }, 10_000);

  it('with no limits configured: converges from the headers with at most a handful of 429s, then none', async () => {
    const server = await startServer(LIMIT);
    try {
      const client = createClient({ baseUrl: server.url });
      const first = await Promise.all(Array.from({ length: 40 }, (_, i) => client.json(`a/${i}`)));
      expect(first).toHaveLength(40);
      const learning = server.count(429);
      expect(learning).toBeLessThanOrEqual(3);
      expect(client.stats().query!.limits).toEqual(['learned:api']);
      const second = await Promise.all(Array.from({ length: 20 }, (_, i) => client.json(`b/${i}`)));
      expect(second).toHaveLength(20);
      expect(server.count(429)).toBe(learning);
      expect(server.count(200)).toBe(60);
    } finally {
      server.close();
    }
  }, 10_000);
});
