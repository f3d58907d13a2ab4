import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock, Sleep } from '../../src/core/clock.js';
import { sluiceNode } from '../../src/http/node.js';
import { createEnforcer } from '../../src/policy/enforce.js';
import { presetOptions } from '../../src/presets/options.js';
import type { Preset } from '../../src/presets/types.js';
import { createMemoryStore } from '../../src/store/memory/memory-store.js';

/**
 * Test support for the client's end-to-end suites (not a test file): time that runs `scale` times faster
 * than the wall clock, shared by a real sluice server and the client under test, so that a preset's
 * documented limits (seconds, minutes) play out in milliseconds while every number the server sends and
 * the client reads stays the documented one.
 */

/**
 * A clock running `scale` times faster than `Date.now()`, from now on, and the matching sleep.
 *
 * @example
 * ```ts
 * const time = scaledTime(20); // 1 s of the API's time passes in 50 ms
 * createClient({ clock: time.clock, sleep: time.sleep });
 * ```
 */
export function scaledTime(scale: number): { clock: Clock; sleep: Sleep; scale: number } {
  const t0 = Date.now();
  const clock = () => t0 + (Date.now() - t0) * scale;
  const sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms / scale),
      );
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  return { clock, sleep, scale };
}

/**
 * What a scaled server saw.
 *
 * @example
 * ```ts
 * expect(server.count(429)).toBe(0);
 * ```
 */
export interface ScaledServer {
  readonly url: string;
  /** Every request answered: status, method, path, Idempotency-Key, and when it arrived (scaled clock). */
  readonly log: Array<{ status: number; method: string; path: string; key?: string; atMs: number }>;
  /** Responses with `status`. */
  count(status: number): number;
  /** Most requests in the handler at once. */
  readonly peakInFlight: () => number;
  close(): Promise<void>;
}

/**
 * Starts a preset behind `sluiceNode` on a real server (127.0.0.1, port 0), on `time`'s clock. Every request
 * is the same API user, API key and account. An allowed request answers 200 JSON after `latencyMs` of wall
 * time; `answer` may override a request's status (e.g. 503 for an outage).
 *
 * @example
 * ```ts
 * const server = await startScaledServer(merchantApi, scaledTime(20), { latencyMs: 5 });
 * ```
 */
export async function startScaledServer(
  preset: Preset,
  time: { clock: Clock },
  options: { latencyMs?: number; answer?: (method: string, path: string) => number | undefined } = {},
): Promise<ScaledServer> {
  const enforcer = createEnforcer({
    ...presetOptions(preset),
    store: createMemoryStore({ clock: time.clock }),
    clock: time.clock,
  });
  const guard = sluiceNode(enforcer, { identify: () => ({ user: 'u1', apiKey: 'k1', account: 'a1' }) });
  const log: ScaledServer['log'] = [];
  let inFlight = 0;
  let peak = 0;
  const server = createServer(async (req, res) => {
    const atMs = time.clock();
    const key = req.headers['idempotency-key'];
    res.once('finish', () =>
      log.push({
        status: res.statusCode,
        method: req.method ?? '',
        path: req.url ?? '',
        ...(typeof key === 'string' ? { key } : {}),
        atMs,
      }),
    );
    if ((await guard(req, res)) === undefined) return;
    inFlight++;
    peak = Math.max(peak, inFlight);
    if (options.latencyMs !== undefined) await new Promise((r) => setTimeout(r, options.latencyMs));
    inFlight--;
    res.statusCode = options.answer?.(req.method ?? '', req.url ?? '') ?? 200;
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  server.keepAliveTimeout = 1000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    count: (status) => log.filter((entry) => entry.status === status).length,
    peakInFlight: () => peak,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
