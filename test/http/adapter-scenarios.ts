import { expect } from 'vitest';
import type { ClientIpOptions, ClientIpWarning } from '../../src/http/client-ip.js';
import type { HeaderOptions } from '../../src/http/headers.js';
import type { RejectionOptions } from '../../src/http/rejection.js';
import type { Store } from '../../src/store/types.js';

/** A whole minute: fixed windows are aligned to the epoch, so `t` is 60. */
export const T0 = 1_700_000_040_000;

/** The scenarios of the adapter matrix (adapter-matrix.test.ts): each runs through every adapter and store. */

/** What the application behind the limiter does: `/slow` waits for the gate or the client's departure. */
export interface App {
  readonly handle: (path: string, closed: Promise<void>) => Promise<string>;
  /** Resolves once a `/slow` request reached the application. */
  readonly entered: Promise<void>;
  /** Resolves once the `/slow` handler saw its client leave (abort) or the gate open. */
  readonly left: Promise<void>;
  /** Lets a waiting `/slow` request finish normally. */
  readonly open: () => void;
}

export interface Client {
  get(path: string, headers?: Record<string, string>, signal?: AbortSignal): Promise<Response>;
  /** Status and body read (so the connection is reusable) and the response's headers. */
  status(path: string, headers?: Record<string, string>): Promise<number>;
  readonly app: App;
  readonly warnings: readonly ClientIpWarning['code'][];
}

export interface Scenario {
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

export const scenarios: readonly Scenario[] = [
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
