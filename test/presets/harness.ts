import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import type { ClientIpOptions } from '../../src/http/client-ip.js';
import { sluiceNode } from '../../src/http/node.js';
import { createEnforcer } from '../../src/policy/enforce.js';
import { presetOptions } from '../../src/presets/options.js';
import type { Preset } from '../../src/presets/types.js';
import { createMemoryStore } from '../../src/store/memory/memory-store.js';

/**
 * Test support for the preset suites (not a test file, and not part of the package: `*.test-*` files are
 * left out of the published files): a preset behind `sluiceNode` on a real node:http server (127.0.0.1,
 * port 0), with a manual clock shared by the enforcer and its memory store.
 */

/**
 * The servers' start time: a whole minute (so also a whole 10 and 30 seconds), as fixed windows are aligned
 * to the epoch.
 *
 * @example
 * ```ts
 * expect(sent.headers.get('X-Ratelimit-Retry-After')).toBe(String((T0 + 1000) / 1000));
 * ```
 */
export const T0 = 1_700_000_040_000;

/**
 * A response as the tests read it.
 *
 * @example
 * ```ts
 * const sent: Sent = await server.send('GET', '/products', { 'x-api-key': 'k' });
 * ```
 */
export interface Sent {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/**
 * A running preset server.
 *
 * @example
 * ```ts
 * const server: PresetServer = await startPresetServer(salesData);
 * ```
 */
export interface PresetServer {
  readonly url: string;
  readonly clock: ManualClock;
  /** The header names of the last response that finished, spelled as the server wrote them. */
  lastHeaderNames(): string[];
  /** Sends one request with fetch. A target with `?hold` waits in the handler until {@link releaseAll}. */
  send(method: string, path: string, headers?: Record<string, string>): Promise<Sent>;
  /** Sends `count` requests one after the other; returns their statuses. */
  repeat(count: number, method: string, path: string, headers?: Record<string, string>): Promise<number[]>;
  /** Resolves once `count` requests are held in the handler. */
  holding(count: number): Promise<void>;
  /** Lets the held requests finish and waits until every response closed (and its leases are back). */
  releaseAll(): Promise<void>;
  close(): Promise<void>;
}

const header = (value: string | string[] | undefined) =>
  typeof value === 'string' && value !== '' ? value : undefined;

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/**
 * Starts a preset on a server. The application behind the limiter identifies requests by `X-User` (key part
 * `user`) and `X-Account` (`account`), as a gateway would from its own authentication.
 *
 * @example
 * ```ts
 * const server = await startPresetServer(marketplace, { environment: 'production' });
 * server.clock.advance(1000);
 * await server.close();
 * ```
 */
export async function startPresetServer(
  preset: Preset,
  options: { environment?: string; clientIp?: ClientIpOptions } = {},
): Promise<PresetServer> {
  const clock = createManualClock(T0);
  const base = presetOptions(
    preset,
    options.environment === undefined ? {} : { environment: options.environment },
  );
  const enforcer = createEnforcer({
    ...base,
    ...(options.clientIp === undefined ? {} : { clientIp: options.clientIp }),
    store: createMemoryStore({ clock: clock.now }),
    clock: clock.now,
  });
  const guard = sluiceNode(enforcer, {
    identify: (req) => {
      const user = header(req.headers['x-user']);
      const account = header(req.headers['x-account']);
      return { ...(user === undefined ? {} : { user }), ...(account === undefined ? {} : { account }) };
    },
  });

  let lastNames: string[] = [];
  let open = 0;
  let gate = deferred();
  let held = 0;
  const waiters: { count: number; resolve: () => void }[] = [];

  const server = createServer(async (req, res) => {
    open++;
    res.once('finish', () => {
      // Node ≥ 15.13 has it; @types/node 20 does not declare it.
      lastNames = (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames();
    });
    res.once('close', () => {
      open--;
    });
    try {
      const verdict = await guard(req, res);
      if (verdict === undefined) return; // rejected: answered by the adapter
      if (req.url?.includes('?hold') === true) {
        held++;
        for (const waiter of waiters.splice(0)) {
          if (held >= waiter.count) waiter.resolve();
          else waiters.push(waiter);
        }
        await gate.promise;
        held--;
      }
      res.setHeader('Content-Type', 'application/json');
      res.end('{"ok":true}');
    } catch (error) {
      res.statusCode = 500;
      res.end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const send = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const response = await fetch(url + path, { method, headers });
    return { status: response.status, headers: response.headers, body: await response.text() };
  };

  return {
    url,
    clock,
    lastHeaderNames: () => lastNames,
    send,
    async repeat(count, method, path, headers) {
      const statuses: number[] = [];
      for (let i = 0; i < count; i++) statuses.push((await send(method, path, headers)).status);
      return statuses;
    },
    holding(count) {
      if (held >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    async releaseAll() {
      gate.resolve();
      gate = deferred();
      while (open > 0) await tick();
      await tick(); // the adapter releases leases on 'close', asynchronously
    },
    close: () =>
      new Promise((resolve) => {
        gate.resolve();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
