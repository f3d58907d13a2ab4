import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createManualClock } from '../../src/core/clock.js';
import type { ClientIpWarning } from '../../src/http/client-ip.js';
import { sluiceExpress } from '../../src/http/express.js';
import { sluiceFastify } from '../../src/http/fastify.js';
import { sluiceFetch } from '../../src/http/fetch.js';
import { sluiceNode } from '../../src/http/node.js';
import { parsePolicies } from '../../src/policy/config.js';
import { createEnforcer, type Enforcer, type Verdict } from '../../src/policy/enforce.js';
import { createMemoryStore } from '../../src/store/memory/memory-store.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { type RedisServer, redisAvailable, startRedisServer } from '../redis/harness.js';
import { type App, scenarios, T0 } from './adapter-scenarios.js';

/**
 * The adapter matrix: one table of scenarios, each run through every framework adapter on a real server
 * (127.0.0.1, port 0) with requests made by Node's fetch. Time never moves: a manual clock on a whole minute.
 */

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
