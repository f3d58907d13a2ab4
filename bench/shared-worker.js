// One of the four worker processes of the shared-budget benchmark (bench/shared.js), forked with an IPC
// channel: node bench/shared-worker.js '<json config>'. It builds its limiter (sluice's client with a shared
// Redis budget, sluice's client on its own, or a Bottleneck in Redis clustering mode), sends `{ ready: true }`,
// waits for `{ startMs, endMs }` (the shared scaled time), sends `GET /products` as fast as its limiter lets
// it from `startMs` to `endMs`, then drops whatever still waits and sends `{ report }` (its own view: 2xx,
// 429s, other statuses, errors; the server's counts are the measure).
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { createClient } from '../dist/client/index.js';
import { fixedWindow, systemSleep } from '../dist/index.js';
import { salesData } from '../dist/presets/index.js';
import { createRedisStore } from '../dist/store/redis/index.js';

/** Requests each worker keeps submitted at once: more than the concurrency, so its queue never runs dry. */
const LOOPS = 8;
/** The document's limit, from which every configuration is set. */
const LIMIT = 50;
const WINDOW_MS = 10_000;
/** "Limit concurrency": the document gives no number; 4 as sluice's Sales-data preset, for every configuration. */
const CONCURRENCY = 4;

const config = JSON.parse(process.argv[2]);
const { t0, w0, scale } = config;
const clock = () => t0 + (Date.now() - w0) * scale;
const sleep = (ms, signal) => systemSleep(Math.max(0, ms / scale), signal);

/**
 * sluice's client: the Sales-data preset's options with a fixed window at margin 0.96 (48 of 50 per window,
 * sent at the start of each window, so none straddles a boundary), adaptive as by default: the choice of
 * test/client/shared-worker.ts, `workerClientOptions`, where it is explained.
 */
const sluiceOptions = (baseUrl) => ({
  ...salesData.client,
  baseUrl,
  classes: {
    api: {
      match: () => true,
      limits: [fixedWindow({ limit: LIMIT, window: WINDOW_MS, name: 'sales-data' })],
      concurrency: CONCURRENCY,
    },
  },
  margin: 0.96,
  clock,
  sleep,
});

/** Returns `{ send(signal) → status, close() }` for the configuration. */
async function makeLimiter() {
  if (config.mode === 'bottleneck') {
    // Bottleneck's README, "Clustering": one id for the cluster, the ioredis datastore, the limit as a
    // reservoir of 50 refreshed to 50 every 10 s (of API time), 4 running at once across the cluster, an
    // expiration on every job (strongly recommended there). Bottleneck reads Redis's clock, which runs at
    // wall speed: its intervals are scaled, the cluster's 5 s heartbeat (which applies the refresh) included,
    // so that the scaled run behaves as Bottleneck does in real time.
    const limiter = new Bottleneck({
      id: config.name,
      datastore: 'ioredis',
      clientOptions: { host: '127.0.0.1', port: config.redisPort },
      Redis,
      reservoir: LIMIT,
      reservoirRefreshAmount: LIMIT,
      reservoirRefreshInterval: WINDOW_MS / scale,
      maxConcurrent: CONCURRENCY,
      heartbeatInterval: 5000 / scale,
    });
    limiter.on('error', (error) => console.error(`bottleneck worker: ${error.message}`));
    await limiter.ready();
    const expiration = 60_000 / scale;
    return {
      send: (signal) => limiter.schedule({ expiration }, () => get(signal)),
      close: async () => {
        await limiter.stop({ dropWaitingJobs: true }).catch(() => {});
        await limiter.disconnect();
      },
    };
  }
  let redis;
  let budget = {};
  if (config.mode === 'shared') {
    redis = new Redis(config.redisPort, '127.0.0.1', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
    });
    await redis.connect();
    budget = { budget: { store: createRedisStore({ client: redis, clock }), name: config.name } };
  }
  const client = createClient({ ...sluiceOptions(config.baseUrl), ...budget });
  return {
    send: async (signal) => {
      const response = await client.fetch('/products', { signal });
      await response.arrayBuffer();
      return response.status;
    },
    close: async () => redis?.disconnect(),
  };
}

/** One plain request (Bottleneck's job). */
async function get(signal) {
  const response = await fetch(new URL('/products', config.baseUrl), { signal });
  await response.arrayBuffer();
  return response.status;
}

const limiter = await makeLimiter();
process.send({ ready: true });
const { startMs, endMs } = await new Promise((resolve) => process.once('message', resolve));
await sleep(startMs - clock());
const stop = new AbortController();
const report = { ok: 0, tooMany: 0, other: 0, errors: 0 };
const loop = async () => {
  while (!stop.signal.aborted) {
    try {
      const status = await limiter.send(stop.signal);
      if (status >= 200 && status < 300) report.ok++;
      else if (status === 429) report.tooMany++;
      else report.other++;
    } catch {
      if (!stop.signal.aborted) report.errors++;
    }
  }
};
const loops = Array.from({ length: LOOPS }, loop);
await sleep(endMs - clock());
stop.abort();
// Bottleneck's queued jobs do not see the signal: stopping the limiter drops them (they reject).
const closed = limiter.close();
await Promise.all(loops);
await closed;
process.send({ report });
process.disconnect();
