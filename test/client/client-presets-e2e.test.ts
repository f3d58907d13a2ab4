import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { QueueTimeoutError } from '../../src/client/scheduler.js';
import { appPlatform } from '../../src/presets/app-platform.js';
import { marketplace } from '../../src/presets/marketplace.js';
import { merchantApi } from '../../src/presets/merchant-api.js';
import { platformApi } from '../../src/presets/platform-api.js';
import { salesData } from '../../src/presets/sales-data.js';
import type { Preset } from '../../src/presets/types.js';
import { type ScaledServer, scaledTime, startScaledServer } from './scaled-server.js';

/**
 * The client with each reference API's client preset against a real sluice server running the same
 * preset, on time that runs `scale` times faster (scaled-server.ts). Assertions are on what the server saw.
 */

async function withServer<T>(
  preset: Preset,
  scale: number,
  options: Parameters<typeof startScaledServer>[2],
  run: (server: ScaledServer, time: ReturnType<typeof scaledTime>) => Promise<T>,
): Promise<T> {
  const time = scaledTime(scale);
  const server = await startScaledServer(preset, time, options);
  try {
    return await run(server, time);
  } finally {
    await server.close();
  }
}

const drain = (responses: Response[]) => Promise.all(responses.map((r) => r.arrayBuffer()));

describe('client presets against their servers: zero 429 with the limits known', () => {
  const cases: Array<{
    preset: Preset;
    scale: number;
    requests: Array<[string, string]>;
    latencyMs?: number;
  }> = [
    {
      preset: merchantApi,
      scale: 20,
      latencyMs: 5,
      requests: Array.from({ length: 150 }, (_, i): [string, string] => ['POST', `/v1/rates?i=${i}`]),
    },
    {
      preset: salesData,
      scale: 20,
      requests: Array.from({ length: 110 }, (_, i): [string, string] => ['GET', `/products?page=${i}`]),
    },
    {
      // 5 per second per endpoint, run at 4: a window of 500 ms of wall time here, so that a loaded machine's
      // stall (the first requests open their connections) cannot carry a window's requests into the next.
      preset: platformApi,
      scale: 2,
      requests: [
        ...Array.from({ length: 14 }, (_, i): [string, string] => ['GET', `/platform/v2/sites?i=${i}`]),
        ...Array.from({ length: 50 }, (_, i): [string, string] => [
          'GET',
          `/product/v2/site/s/stage/live/${i}`,
        ]),
        ['POST', '/platform/v2/process/site-1'],
      ],
    },
    {
      preset: appPlatform,
      scale: 10,
      requests: [
        ...Array.from({ length: 200 }, (_, i): [string, string] => ['GET', `/v1/data-sources/${i}/data`]),
        ...Array.from({ length: 21 }, (): [string, string] => ['POST', '/v1/communicate/email']),
        ...Array.from({ length: 10 }, (): [string, string] => ['GET', '/v1/apps']),
      ],
    },
    {
      preset: marketplace,
      scale: 100,
      requests: [
        ...Array.from({ length: 190 }, (_, i): [string, string] => [
          'GET',
          `/v1/integration_api/listings/query?i=${i}`,
        ]),
        ...Array.from({ length: 95 }, (): [string, string] => [
          'POST',
          '/v1/integration_api/listings/update',
        ]),
      ],
    },
  ];

  for (const { preset, scale, requests, latencyMs } of cases) {
    it(`${preset.name}: ${requests.length} requests, every one 2xx, none throttled`, async () => {
      await withServer(preset, scale, latencyMs === undefined ? {} : { latencyMs }, async (server, time) => {
        const client = createClient({
          baseUrl: server.url,
          ...preset.client,
          clock: time.clock,
          sleep: time.sleep,
        });
        const responses = await Promise.all(requests.map(([method, path]) => client.fetch(path, { method })));
        await drain(responses);
        expect(
          server.log.filter((e) => e.status !== 200).map((e) => `${e.status} ${e.method} ${e.path}`),
        ).toEqual([]);
        expect(server.count(429) + server.count(409)).toBe(0);
        expect(server.log).toHaveLength(requests.length); // nothing sent twice
        for (const stats of Object.values(client.stats()))
          expect(stats).toMatchObject({ running: 0, queued: 0 });
      });
    }, 20_000);
  }
});

describe('client against the Merchant API server with no limits configured (adaptive)', () => {
  it('learns the concurrency from X-Concurrency-Limit and the refill from RateLimit-Remaining: at most a handful of 429s, then none', async () => {
    await withServer(merchantApi, 20, { latencyMs: 5 }, async (server, time) => {
      const client = createClient({
        baseUrl: server.url,
        classes: { api: { match: () => true, retryable: true } },
        clock: time.clock,
        sleep: time.sleep,
      });
      const first = await Promise.all(
        Array.from({ length: 150 }, (_, i) => client.fetch(`/v1/rates?a=${i}`, { method: 'POST' })),
      );
      await drain(first);
      expect(first.every((r) => r.status === 200)).toBe(true);
      const learning = server.count(429) + server.count(409);
      expect(learning).toBeLessThanOrEqual(3);
      expect(client.stats().api).toMatchObject({ concurrency: 5, running: 0 });
      const second = await Promise.all(
        Array.from({ length: 100 }, (_, i) => client.fetch(`/v1/rates?b=${i}`, { method: 'POST' })),
      );
      await drain(second);
      expect(server.count(429) + server.count(409)).toBe(learning);
      expect(server.count(200)).toBe(250);
    });
  }, 20_000);
});

describe('retries against a real server', () => {
  it("honours the server's Retry-After exactly", async () => {
    // The Sales-data API's window (50 per 10 s) spent by a client that does not pace, then a retrying one.
    await withServer(salesData, 20, {}, async (server, time) => {
      const raw = createClient({
        baseUrl: server.url,
        classes: { api: { match: () => true } },
        adaptive: false,
        retry: { maxAttempts: 1 },
        clock: time.clock,
        sleep: time.sleep,
      });
      const client = createClient({
        baseUrl: server.url,
        adaptive: false,
        clock: time.clock,
        sleep: time.sleep,
      });
      const waits: number[] = [];
      client.on('throttled', ({ retryAfterMs }) => waits.push(retryAfterMs));
      // A window boundary may fall inside the burst (1 time in ~15): then the request is not throttled; again.
      let attempts: ScaledServer['log'] = [];
      for (let tries = 0; tries < 5 && attempts[0]?.status !== 429; tries++) {
        await drain(await Promise.all(Array.from({ length: 60 }, () => raw.fetch('/products'))));
        waits.length = 0;
        const before = server.log.length;
        expect((await client.fetch('/categories')).status).toBe(200);
        attempts = server.log.slice(before);
      }
      expect(attempts.map((a) => a.status)).toEqual([429, 200]);
      // Retry-After in whole seconds, honoured as given: no earlier, and no jitter added.
      expect(waits).toHaveLength(1);
      expect(waits[0]! % 1000).toBe(0);
      const gap = attempts[1]!.atMs - attempts[0]!.atMs;
      expect(gap).toBeGreaterThanOrEqual(waits[0]!);
      expect(gap).toBeLessThan(waits[0]! + 40 * time.scale); // 40 ms of wall time for the round trips
    });
  }, 20_000);

  it('does not replay a POST without an Idempotency-Key; replays one with it', async () => {
    await withServer(salesData, 20, { answer: () => 503 }, async (server, time) => {
      const client = createClient({
        baseUrl: server.url,
        ...salesData.client,
        clock: time.clock,
        sleep: time.sleep,
      });
      const post = await client.fetch('/products', { method: 'POST', body: '{}' });
      expect(post.status).toBe(503);
      expect(server.log.filter((e) => e.method === 'POST')).toHaveLength(1);
      const keyed = await client.fetch('/products', {
        method: 'POST',
        body: '{}',
        headers: { 'idempotency-key': 'k-1' },
      });
      expect(keyed.status).toBe(503);
      // Sales-data retries: 1 s, 2 s, 4 s (plus up to 10 % of jitter), then stop: four attempts.
      const attempts = server.log.filter((e) => e.key === 'k-1');
      expect(attempts).toHaveLength(4);
      const gaps = attempts.slice(1).map((a, i) => a.atMs - attempts[i]!.atMs);
      gaps.forEach((gap, i) => {
        expect(gap).toBeGreaterThanOrEqual(1000 * 2 ** i);
        expect(gap).toBeLessThan(1100 * 2 ** i + 40 * time.scale); // up to 10 % of jitter
      });
    });
  }, 20_000);
});

describe('abort, queue deadline and slots against a real server', () => {
  it('an aborted queued request is never sent; a queue deadline sheds with QueueTimeoutError; no slot leaks', async () => {
    await withServer(merchantApi, 20, { latencyMs: 30 }, async (server, time) => {
      const client = createClient({
        baseUrl: server.url,
        ...merchantApi.client,
        clock: time.clock,
        sleep: time.sleep,
      });
      const controller = new AbortController();
      const running = Array.from({ length: 5 }, (_, i) => client.fetch(`/v1/orders?r=${i}`));
      const aborted = client
        .fetch('/v1/orders?aborted', { signal: controller.signal })
        .catch((e: unknown) => e);
      controller.abort(new Error('user cancelled'));
      expect(await aborted).toMatchObject({ message: 'user cancelled' });
      await drain(await Promise.all(running));
      // Aborted in flight: the request rejects and its slot comes back.
      const inFlight = new AbortController();
      const cancelled = client
        .fetch('/v1/orders?cancelled', { signal: inFlight.signal })
        .catch((e: unknown) => e);
      setTimeout(() => inFlight.abort(new Error('gone')), 5);
      expect(await cancelled).toBeInstanceOf(Error);
      expect(server.log.some((e) => e.path.includes('aborted'))).toBe(false);
      expect(client.stats().api).toMatchObject({ running: 0, queued: 0 });
      // Every slot is back: five more run at once.
      await drain(
        await Promise.all(Array.from({ length: 5 }, (_, i) => client.fetch(`/v1/orders?after=${i}`))),
      );
      expect(client.stats().api!.peakRunning).toBe(5);
      expect(server.count(409)).toBe(0);

      // A queue deadline: one slot, held by a slow request; the next one is shed, never sent.
      const strict = createClient({
        baseUrl: server.url,
        classes: { api: { match: () => true, concurrency: 1 } },
        maxWait: '200ms', // of the API's time: 10 ms of wall time
        clock: time.clock,
        sleep: time.sleep,
      });
      const holder = strict.fetch('/v1/orders?holder');
      const late = strict.fetch('/v1/orders?late').catch((e: unknown) => e);
      expect(await late).toBeInstanceOf(QueueTimeoutError);
      expect((await holder).status).toBe(200);
      expect(server.log.some((e) => e.path.includes('late'))).toBe(false);
      expect(strict.stats().api).toMatchObject({ running: 0, queued: 0, shed: { timeout: 1 } });
    });
  }, 20_000);
});
