import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createResilientStore,
  type FailureMode,
  fixedWindow,
  type Outcome,
  withId,
} from '../../src/index.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { type RedisServer, redisAvailable, startRedisServer } from './harness.js';

const TIMEOUT_MS = 100;
const RETRY_MS = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A connected client of each driver, with its default options (ioredis's offline queue included). */
const drivers = {
  ioredis: async (port: number) => {
    const client = new Redis(port, '127.0.0.1');
    client.on('error', () => {});
    return { client, close: async () => client.disconnect() };
  },
  'node-redis': async (port: number) => {
    const client = createClient({ url: `redis://127.0.0.1:${port}` });
    client.on('error', () => {});
    await client.connect();
    return { client, close: async () => client.destroy() };
  },
};

/** Background requests on their own key: every outcome and how long it took. */
function traffic(consume: () => Promise<Outcome>) {
  const seen: { reason: string | undefined; ms: number }[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const started = performance.now();
      const outcome = await consume();
      seen.push({ reason: outcome.reason, ms: performance.now() - started });
      await sleep(5);
    }
  })();
  return {
    seen,
    /** Resolves once a request after `from` is degraded (or, with `healthy`, decided by Redis again). */
    async until(healthy: boolean, from: number, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!seen.slice(from).some((s) => (s.reason === undefined) === healthy)) {
        if (Date.now() > deadline)
          throw new Error(`no ${healthy ? 'healthy' : 'degraded'} outcome in ${timeoutMs} ms`);
        await sleep(10);
      }
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

const cases: [keyof typeof drivers, FailureMode][] = [
  ['ioredis', 'open'],
  ['ioredis', 'closed'],
  ['ioredis', 'fallback'],
  ['node-redis', 'fallback'],
];

describe.runIf(redisAvailable())('failure modes: redis-server killed and restarted mid-traffic', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** The settings the README asks for: fail fast while disconnected, and never resend a call later. */
  const recommended = {
    ioredis: async (port: number) => {
      const client = new Redis(port, '127.0.0.1', {
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
      });
      client.on('error', () => {});
      await new Promise((resolve) => client.once('ready', resolve));
      return { client, close: async () => client.disconnect() };
    },
    'node-redis': async (port: number) => {
      const client = createClient({ url: `redis://127.0.0.1:${port}`, disableOfflineQueue: true });
      client.on('error', () => {});
      await client.connect();
      return { client, close: async () => client.destroy() };
    },
  };

  it.each(Object.keys(recommended) as (keyof typeof recommended)[])(
    '%s with the recommended settings: a call answered in degraded mode is never replayed after recovery',
    async (driver) => {
      const { client, close } = await recommended[driver](server.port);
      const store = createResilientStore(createRedisStore({ client }), {
        failureMode: 'closed',
        timeout: TIMEOUT_MS,
        retryInterval: RETRY_MS,
      });
      const tag = `replay-${driver}-${Date.now()}`;
      const limit = withId(fixedWindow({ limit: 3, window: '1h' }), tag);
      const probe = withId(fixedWindow({ limit: 1_000_000, window: '1h' }), `${tag}-probe`);
      try {
        expect((await store.consume([{ limit: probe, key: 'p' }])).reason).toBeUndefined();
        await server.kill();
        for (let i = 0; i < 4; i++) {
          const outcome = await store.consume([{ limit, key: 'k', cost: 2 }]);
          expect(outcome).toMatchObject({ allowed: false });
          expect(outcome.reason).toBeDefined();
        }
        await server.start();
        const deadline = Date.now() + 15_000;
        while ((await store.consume([{ limit: probe, key: 'p' }])).reason !== undefined) {
          if (Date.now() > deadline) throw new Error('the store did not recover');
          await sleep(20);
        }
        await sleep(300); // time for a stray resend to land, if there were one
        // The restarted server started empty: any spent budget would be a replayed call.
        expect((await store.peek([{ limit, key: 'k', cost: 0 }])).remaining).toBe(3);
      } finally {
        await close();
      }
    },
    60_000,
  );

  it.each(cases)(
    '%s, failureMode %s: keeps its promise during the outage and recovers by itself',
    async (driver, mode) => {
      const { client, close } = await drivers[driver](server.port);
      const store = createResilientStore(createRedisStore({ client }), {
        failureMode: mode,
        timeout: TIMEOUT_MS,
        retryInterval: RETRY_MS,
      });
      const tag = `${driver}-${mode}-${Date.now()}`;
      const busy = withId(fixedWindow({ limit: 1_000_000, window: '1h' }), `busy-${tag}`);
      const small = withId(fixedWindow({ limit: 5, window: '1h' }), `small-${tag}`);
      const load = traffic(() => store.consume([{ limit: busy, key: 'traffic' }]));
      try {
        await load.until(true, 0);
        const healthy = await store.consume([{ limit: small, key: 'k' }]);
        expect(healthy.reason).toBeUndefined();
        expect(healthy.remaining).toBe(4);

        // Crash: every request must still settle, and each mode must answer as it promises.
        await server.kill();
        const crashedAt = load.seen.length;
        await load.until(false, crashedAt);
        const during: Outcome[] = [];
        for (let i = 0; i < 8; i++) during.push(await store.consume([{ limit: small, key: 'k' }]));
        const lease = await store.acquire('k', 1, 60_000);
        if (mode === 'open') {
          expect(
            during.every((o) => o.allowed && (o.reason === 'store-error' || o.reason === 'store-timeout')),
          ).toBe(true);
          expect(lease).toMatchObject({ acquired: true });
        } else if (mode === 'closed') {
          expect(during.every((o) => !o.allowed && o.retryAfterMs >= 1 && o.reason !== undefined)).toBe(true);
          expect(lease).toMatchObject({ acquired: false });
        } else {
          // A local store decides, and still enforces the limit: 5 per hour, counted from nothing.
          expect(during.map((o) => o.allowed)).toEqual([true, true, true, true, true, false, false, false]);
          expect(during.every((o) => o.reason === 'fallback')).toBe(true);
          expect(lease).toMatchObject({ acquired: true, reason: 'fallback' });
          expect((await store.acquire('k', 1, 60_000)).acquired).toBe(false);
        }
        expect(lease.reason).toBeDefined();

        // Restart: the store is used again without anyone stepping in.
        await sleep(300);
        await server.start();
        const restartedAt = load.seen.length;
        await load.until(true, restartedAt, 15_000);
        const after = await store.consume([{ limit: small, key: 'k' }]);
        expect(after.reason).toBeUndefined();
        expect(after.allowed).toBe(true); // persistence is off: the restarted server remembers nothing
        if (lease.acquired) expect(await store.release(lease.lease)).toBe(true);

        const stats = store.stats();
        expect(stats.state).toBe('up');
        expect(stats.recoveries).toBeGreaterThanOrEqual(1);
        expect(stats.degraded[mode]).toBeGreaterThan(0);
      } finally {
        await load.stop();
        await close();
      }
      // No request hung: each settled within about the timeout (1 s is a generous bound for a 100 ms timeout).
      const slowest = Math.max(...load.seen.map((s) => s.ms));
      expect(slowest).toBeLessThan(1000);
      expect(load.seen.some((s) => s.reason !== undefined)).toBe(true);
    },
    60_000,
  );
});
