import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/core/clock.js';
import type { ClientIpOptions, ClientIpWarning } from '../../src/http/client-ip.js';
import { sluiceExpress } from '../../src/http/express.js';
import { sluiceFastify } from '../../src/http/fastify.js';
import { sluiceFetch } from '../../src/http/fetch.js';
import type { HeaderOptions } from '../../src/http/headers.js';
import { sluiceNode } from '../../src/http/node.js';
import type { RejectionOptions } from '../../src/http/rejection.js';
import { parsePolicies } from '../../src/policy/config.js';
import { createEnforcer, type Enforcer, type Verdict } from '../../src/policy/enforce.js';
import { createMemoryStore } from '../../src/store/memory/memory-store.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { type RedisServer, redisAvailable, startRedisServer } from '../redis/harness.js';

/**
 * The adapter matrix: one table of scenarios, each run through every framework adapter on a real server
 * (127.0.0.1, port 0) with requests made by Node's fetch. Time never moves: a manual clock on a whole minute.
 */

const T0 = 1_700_000_040_000; // a whole minute: fixed windows are aligned to the epoch, so `t` is 60

/** What the application behind the limiter does: `/slow` waits for the gate or the client's departure. */
interface App {
  readonly handle: (path: string, closed: Promise<void>) => Promise<string>;
  /** Resolves once a `/slow` request reached the application. */
  readonly entered: Promise<void>;
  /** Resolves once the `/slow` handler saw its client leave (abort) or the gate open. */
  readonly left: Promise<void>;
  /** Lets a waiting `/slow` request finish normally. */
  readonly open: () => void;
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function createApp(): App {
  const entered = deferred();
  const left = deferred();
  const gate = deferred();
  return {
    async handle(path, closed) {
      if (path.startsWith('/slow')) {
        entered.resolve();
        await Promise.race([closed, gate.promise]);
        left.resolve();
      }
      return 'ok';
    },
    entered: entered.promise,
    left: left.promise,
    open: gate.resolve,
  };
}

/** The verdict the adapter exposed to the application, echoed so every adapter's exposure is checked. */
const exposed = (verdict: Verdict | undefined): string =>
  verdict === undefined ? 'none' : verdict.applied.map((a) => a.policy.name).join(',') || '-';

const userOf = (value: string | string[] | null | undefined) =>
  typeof value === 'string' && value !== '' ? { user: value } : undefined;

interface Started {
  readonly url: string;
  close(): Promise<void>;
}

const listen = (server: Server): Promise<Started> =>
  new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });

const closedOf = (res: ServerResponse): Promise<void> =>
  new Promise((resolve) => res.once('close', () => resolve()));

function fail(res: ServerResponse) {
  if (!res.headersSent) res.statusCode = 500;
  res.end('internal error');
}

interface Adapter {
  readonly name: string;
  start(enforcer: Enforcer, app: App): Promise<Started>;
}

const node: Adapter = {
  name: 'node:http',
  start(enforcer, app) {
    const guard = sluiceNode(enforcer, { identify: (req) => userOf(req.headers['x-user']) });
    return listen(
      createServer(async (req, res) => {
        try {
          const verdict = await guard(req, res);
          if (verdict === undefined) return;
          res.setHeader('x-verdict', exposed(verdict));
          res.end(await app.handle(req.url ?? '/', closedOf(res)));
        } catch {
          fail(res);
        }
      }),
    );
  },
};

const expressAdapter: Adapter = {
  name: 'express',
  start(enforcer, app) {
    const server = express();
    server.use(sluiceExpress(enforcer, { identify: (req) => userOf(req.headers['x-user']) }));
    server.use(async (req, res) => {
      res.setHeader('x-verdict', exposed(res.locals.sluice));
      res.send(await app.handle(req.originalUrl, closedOf(res)));
    });
    return listen(createServer(server));
  },
};

const fastify: Adapter = {
  name: 'fastify',
  async start(enforcer, app) {
    const server = Fastify();
    await server.register(sluiceFastify, {
      enforcer,
      identify: (request) => userOf(request.headers['x-user']),
    });
    server.get('/*', async (request, reply) => {
      reply.header('x-verdict', exposed(request.sluice));
      return app.handle(request.url, closedOf(reply.raw));
    });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const { port } = server.server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
  },
};

/** A small node:http → fetch bridge: the client leaving aborts the Request's signal, as fetch runtimes do. */
async function bridge(
  req: IncomingMessage,
  res: ServerResponse,
  handler: (request: Request, info: { remoteAddress: string | undefined }) => Promise<Response>,
) {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const v of Array.isArray(value) ? value : [value ?? '']) headers.append(name, v);
  }
  const request = new Request(`http://${req.headers.host}${req.url}`, {
    method: req.method ?? 'GET',
    headers,
    signal: controller.signal,
  });
  const response = await handler(request, { remoteAddress: req.socket.remoteAddress });
  res.statusCode = response.status;
  for (const [name, value] of response.headers) res.setHeader(name, value);
  if (response.body !== null) for await (const chunk of response.body) res.write(chunk);
  res.end();
}

const fetchAdapter: Adapter = {
  name: 'fetch',
  start(enforcer, app) {
    const check = sluiceFetch<{ remoteAddress: string | undefined }>(enforcer, {
      remoteAddress: (_request, info) => info?.remoteAddress,
      identify: (request) => userOf(request.headers.get('x-user')),
    });
    const handler = async (request: Request, info: { remoteAddress: string | undefined }) => {
      const result = await check(request, info);
      if (result.rejected) return result.rejected;
      const closed = new Promise<void>((resolve) =>
        request.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      const url = new URL(request.url);
      const body = await app.handle(`${url.pathname}${url.search}`, closed);
      return result.decorate(new Response(body, { headers: { 'x-verdict': exposed(result.verdict) } }));
    };
    return listen(
      createServer((req, res) => {
        bridge(req, res, handler).catch(() => fail(res));
      }),
    );
  },
};

const adapters: readonly Adapter[] = [node, expressAdapter, fastify, fetchAdapter];

interface Client {
  get(path: string, headers?: Record<string, string>, signal?: AbortSignal): Promise<Response>;
  /** Status and body read (so the connection is reusable) and the response's headers. */
  status(path: string, headers?: Record<string, string>): Promise<number>;
  readonly app: App;
  readonly warnings: readonly ClientIpWarning['code'][];
}

interface Scenario {
  readonly name: string;
  readonly policies: readonly unknown[];
  readonly headers?: HeaderOptions;
  readonly rejection?: RejectionOptions;
  readonly clientIp?: ClientIpOptions;
  /** Wraps the store (to simulate an outage). */
  readonly store?: (store: Store) => Store;
  run(client: Client): Promise<void>;
}

const fixed = (limit: number) => [{ type: 'fixedWindow', limit, window: '1m' }];
const xff = (address: string) => ({ 'x-forwarded-for': address });

const scenarios: readonly Scenario[] = [
  {
    name: 'announces every profile asked for (ietf draft-10 and legacy) and exposes the verdict',
    policies: [{ name: 'api', limits: fixed(5) }],
    headers: { profiles: ['ietf', 'legacy'] },
    async run({ get }) {
      const response = await get('/items');
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('ok');
      expect(response.headers.get('ratelimit-policy')).toBe('"api";q=5;w=60');
      expect(response.headers.get('ratelimit')).toBe('"api";r=4;t=60');
      expect(response.headers.get('x-ratelimit-limit')).toBe('5');
      expect(response.headers.get('x-ratelimit-remaining')).toBe('4');
      expect(response.headers.get('x-ratelimit-reset')).toBe(String((T0 + 60_000) / 1000));
      expect(response.headers.get('retry-after')).toBeNull();
      expect(response.headers.get('x-verdict')).toBe('api');
    },
  },
  {
    name: 'rejects over the limit with 429, a problem+json body and Retry-After',
    policies: [{ name: 'api', limits: fixed(1) }],
    async run({ get, status }) {
      expect(await status('/items')).toBe(200);
      const response = await get('/items');
      expect(response.status).toBe(429);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.headers.get('retry-after')).toBe('60');
      expect(response.headers.get('ratelimit')).toBe('"api";r=0;t=60');
      expect(response.headers.get('x-verdict')).toBeNull(); // the application never ran
      expect(await response.json()).toMatchObject({
        type: expect.stringContaining('quota-exceeded'),
        status: 429,
      });
    },
  },
  {
    name: 'rejects over the concurrency limit with the configured 409, and gives the slot back on finish',
    policies: [{ name: 'inflight', concurrency: { max: 1, ttl: '1m' } }],
    rejection: { statuses: { concurrency: 409 } },
    async run({ get, status, app }) {
      const slow = get('/slow');
      await app.entered;
      const busy = await get('/items');
      expect(busy.status).toBe(409);
      expect(busy.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await busy.json()).toMatchObject({ status: 409 });
      app.open();
      const first = await slow;
      expect(first.status).toBe(200);
      expect(first.headers.get('x-concurrency-limit')).toBe('1');
      expect(await first.text()).toBe('ok');
      expect(await status('/items')).toBe(200);
    },
  },
  {
    name: 'shadow mode never rejects but announces',
    policies: [{ name: 'trial', limits: fixed(1), mode: 'shadow' }],
    async run({ get }) {
      for (const remaining of [0, 0, 0]) {
        const response = await get('/items');
        expect(response.status).toBe(200);
        expect(await response.text()).toBe('ok');
        expect(response.headers.get('ratelimit')).toBe(`"trial";r=${remaining};t=60`);
        expect(response.headers.get('retry-after')).toBeNull();
      }
    },
  },
  {
    name: 'endpoint scope keeps one budget per method and route',
    policies: [{ name: 'per-route', scope: 'endpoint', limits: fixed(1) }],
    async run({ status }) {
      expect(await status('/items')).toBe(200);
      expect(await status('/items?page=2')).toBe(429); // the query string is not part of the endpoint
      expect(await status('/other')).toBe(200);
      expect(await status('/other')).toBe(429);
    },
  },
  {
    name: 'a request denied by one policy consumes nothing from the other',
    policies: [
      { name: 'per-key', key: 'apiKey', limits: fixed(5) },
      { name: 'items', match: { paths: ['/items'] }, limits: fixed(1) },
    ],
    async run({ get, status }) {
      const key = { 'x-api-key': 'secret-1' };
      expect(await status('/items', key)).toBe(200);
      expect(await status('/items', key)).toBe(429);
      const other = await get('/other', key);
      expect(other.status).toBe(200);
      expect(other.headers.get('ratelimit')).toBe('"per-key";r=3;t=60'); // 5 - 2 admitted, not 5 - 3
    },
  },
  {
    name: 'gives the concurrency slot back when the client aborts mid-request',
    policies: [{ name: 'inflight', concurrency: { max: 1, ttl: '1h' } }],
    async run({ get, status, app }) {
      const controller = new AbortController();
      const slow = get('/slow', {}, controller.signal);
      await app.entered;
      expect(await status('/items')).toBe(429);
      controller.abort();
      await expect(slow).rejects.toThrow();
      await app.left; // the server saw the client go
      expect(await status('/items')).toBe(200);
    },
  },
  {
    name: 'ignores X-Forwarded-For without trustProxy: spoofed addresses share the socket budget',
    policies: [{ name: 'per-ip', limits: fixed(2) }],
    async run({ status, warnings }) {
      expect(await status('/items', xff('198.51.100.1'))).toBe(200);
      expect(await status('/items', xff('198.51.100.2'))).toBe(200);
      expect(await status('/items', xff('198.51.100.3'))).toBe(429);
      expect(await status('/items')).toBe(429);
      expect(warnings).toEqual(['SLUICE_PROXY_UNTRUSTED']);
    },
  },
  {
    name: 'groups IPv6 clients behind a trusted proxy by /64',
    policies: [{ name: 'per-ip', limits: fixed(2) }],
    clientIp: { trustProxy: ['loopback'] },
    async run({ status }) {
      expect(await status('/items', xff('2001:db8:1:2::1'))).toBe(200);
      expect(await status('/items', xff('2001:db8:1:2:ffff:ffff:ffff:ffff'))).toBe(200);
      expect(await status('/items', xff('2001:db8:1:2:abcd::9'))).toBe(429);
      expect(await status('/items', xff('2001:db8:1:3::1'))).toBe(200); // the next /64 is someone else
    },
  },
  {
    name: "keys by the application's identity",
    policies: [
      { name: 'per-user', key: 'user', limits: fixed(1) },
      { name: 'users-only', key: 'user', whenMissing: 'skip', limits: fixed(5) },
    ],
    async run({ get, status }) {
      expect(await status('/items', { 'x-user': 'alice' })).toBe(200);
      expect(await status('/items', { 'x-user': 'alice' })).toBe(429);
      expect(await status('/items', { 'x-user': 'bob' })).toBe(200);
      // No user: the anonymous requests share one budget (leaving the identity out escapes nothing); the
      // policy that skips them does not apply.
      const anonymous = await get('/items');
      expect(anonymous.status).toBe(200);
      expect(anonymous.headers.get('ratelimit')).toBe('"per-user";r=0;t=60');
      expect(anonymous.headers.get('x-verdict')).toBe('per-user');
      await anonymous.body?.cancel();
      expect(await status('/items')).toBe(429);
    },
  },
  {
    name: 'a store outage becomes an error response, never a hanging request',
    policies: [{ name: 'api', limits: fixed(5) }],
    store: (store) => ({ ...store, consume: () => Promise.reject(new Error('store down')) }),
    async run({ status }) {
      expect(await status('/items')).toBe(500);
    },
  },
];

// Every scenario on the memory store, and again on the Redis store (a private redis-server, on the same
// manual clock) when redis-server is installed.
let redis: { server: RedisServer; client: Redis } | undefined;
let tests = 0;
const withRedis = redisAvailable();
beforeAll(async () => {
  if (!withRedis) return;
  const server = await startRedisServer();
  redis = { server, client: new Redis(server.port, '127.0.0.1') };
});
afterAll(async () => {
  redis?.client.disconnect();
  await redis?.server.stop();
});
const stores: { name: string; make: (clock: () => number) => Store }[] = [
  { name: 'memory store', make: (clock) => createMemoryStore({ clock }) },
  ...(withRedis
    ? [
        {
          name: 'Redis store',
          make: (clock: () => number) =>
            createRedisStore({ client: redis!.client, clock, prefix: `matrix-${++tests}` }),
        },
      ]
    : []),
];

describe.each(stores)('on the $name', (storeKind) =>
  describe.each(adapters)('the $name adapter', (adapter) => {
    it.each(scenarios)('$name', async (scenario) => {
      const clock = createManualClock(T0);
      const base = storeKind.make(clock.now);
      const warnings: ClientIpWarning['code'][] = [];
      const enforcer = createEnforcer({
        policies: parsePolicies({ policies: scenario.policies }),
        store: scenario.store?.(base) ?? base,
        clock: clock.now,
        clientIp: { onWarning: (w) => warnings.push(w.code), ...scenario.clientIp },
        ...(scenario.headers === undefined ? {} : { headers: scenario.headers }),
        ...(scenario.rejection === undefined ? {} : { rejection: scenario.rejection }),
      });
      const app = createApp();
      const server = await adapter.start(enforcer, app);
      const get = (path: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
        fetch(`${server.url}${path}`, signal === undefined ? { headers } : { headers, signal });
      const status = async (path: string, headers: Record<string, string> = {}) => {
        const response = await get(path, headers);
        await response.arrayBuffer();
        return response.status;
      };
      try {
        await scenario.run({ get, status, app, warnings });
      } finally {
        app.open();
        await server.close();
      }
    });
  }),
);
