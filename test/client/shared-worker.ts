// One of the worker processes of test/client/shared-budget-processes.test.ts (forked with `--import tsx`, an
// IPC channel to the parent). argv[2]: a JSON `WorkerConfig`. It connects to Redis, builds its client, sends
// `{ ready: true }`, waits for `{ startMs, endMs }` (scaled time), sends requests as fast as its client lets
// it from `startMs` until `endMs`, then aborts whatever is still queued and sends `{ report }`.
import { Redis } from 'ioredis';
import { createClient } from '../../src/client/client.js';
import type { ClientOptions } from '../../src/client/client-options.js';
import type { Sleep } from '../../src/core/clock.js';
import { fixedWindow } from '../../src/core/limits.js';
import { salesData } from '../../src/presets/sales-data.js';
import { createRedisStore } from '../../src/store/redis/index.js';

/** What the parent tells a worker. */
export interface WorkerConfig {
  readonly baseUrl: string;
  readonly redisPort: number;
  /** `shared`: one budget in Redis for every process; `local`: each process its own budget (no `budget`). */
  readonly mode: 'shared' | 'local';
  /** The budget's name (fresh per run, so that no state of an earlier run is shared). */
  readonly name: string;
  /** The shared scaled time: `T0 + (Date.now() - W0) * scale`, the same in every process and the server. */
  readonly t0: number;
  readonly w0: number;
  readonly scale: number;
}

/** What a worker saw, by its client's outcome (the server's log is the measure; this is for the report). */
export interface WorkerReport {
  readonly ok: number;
  /** 429s the client received (each closes the gate; retried ones included). */
  readonly throttled: number;
  /** Requests that ended in a 429 (retries exhausted). */
  readonly tooMany: number;
  readonly other: number;
  readonly errors: number;
}

/** Requests each worker keeps submitted at once: more than the class's concurrency, so its queue never runs dry. */
const LOOPS = 8;

/**
 * The client of every worker: the Sales-data preset's client options, with two changes the 95 % target needs.
 * The server counts 50 per fixed 10 s window aligned to the epoch of the shared scaled clock, and the budget's
 * store runs on that same clock (the Redis store's `clock` option), so the client's windows are the server's.
 * - A fixed window, not the preset's sliding window: a sliding window counter that ran full in the previous
 *   window admits only `limit · elapsed fraction` of the current one, so in steady state it reaches its limit
 *   only at the window's very end (one short: 47 of 48) and it spreads requests up to the boundary, where a
 *   request admitted at 9.99 s reaches the server in the next window. An aligned fixed window admits its count
 *   in a burst at the start of each window (the shared concurrency of 4 spends 48 in a few ms of wall time),
 *   so nothing straddles a boundary: a request admitted in window k arrives in window k or later, never
 *   earlier, because the server's clock is the same one, read later.
 * - margin 0.96, not 0.9: ⌊50 × 0.96⌋ = 48 per window = 96 % of the limit (0.9 caps it at 45, 90 %), and two
 *   spare requests per window for one admitted at a window's end that the server counts in the next.
 * - adaptive on (the default): the server announces 50 per 10 s; the learned sliding window (48 at the
 *   margin) is no tighter than the configured fixed window of the same length, so it is not added.
 */
export function workerClientOptions(baseUrl: string): ClientOptions {
  return {
    ...salesData.client,
    baseUrl,
    classes: {
      api: {
        match: () => true,
        limits: [fixedWindow({ limit: 50, window: '10s', name: 'sales-data' })],
        concurrency: 4,
      },
    },
    margin: 0.96,
  };
}

async function main(config: WorkerConfig): Promise<void> {
  const { t0, w0, scale } = config;
  const clock = () => t0 + (Date.now() - w0) * scale;
  const sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms / scale),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  const redis = new Redis(config.redisPort, '127.0.0.1', {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
  });
  await redis.connect();
  const budget =
    config.mode === 'shared'
      ? { budget: { store: createRedisStore({ client: redis, clock }), name: config.name } }
      : {};
  const client = createClient({ ...workerClientOptions(config.baseUrl), ...budget, clock, sleep });

  process.send?.({ ready: true });
  const { startMs, endMs } = await new Promise<{ startMs: number; endMs: number }>((resolve) =>
    process.once('message', (message) => resolve(message as { startMs: number; endMs: number })),
  );
  await sleep(startMs - clock());
  const stop = new AbortController();
  const report = { ok: 0, throttled: 0, tooMany: 0, other: 0, errors: 0 };
  client.on('throttled', ({ status }) => {
    if (status === 429) report.throttled++;
  });
  const loop = async () => {
    while (!stop.signal.aborted) {
      try {
        const response = await client.fetch('/products', { signal: stop.signal });
        await response.arrayBuffer();
        if (response.ok) report.ok++;
        else if (response.status === 429) report.tooMany++;
        else report.other++;
      } catch {
        if (!stop.signal.aborted) report.errors++;
      }
    }
  };
  const loops = Array.from({ length: LOOPS }, loop);
  await sleep(endMs - clock());
  stop.abort();
  await Promise.all(loops);
  process.send?.({ report });
  redis.disconnect();
  process.disconnect();
}

// Only when run as the worker (never when a test imports its types).
if (process.argv[1]?.endsWith('shared-worker.ts'))
  await main(JSON.parse(process.argv[2] ?? '{}') as WorkerConfig);
