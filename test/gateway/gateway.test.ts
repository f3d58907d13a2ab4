import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadGatewayConfig, parseGatewayConfig } from '../../src/gateway/config.js';
import { type DemoUpstream, startDemoUpstream } from '../../src/gateway/demo-upstream.js';
import { type Gateway, type GatewayLogger, startGateway } from '../../src/gateway/gateway.js';
import { createMemoryStore } from '../../src/store/memory/memory-store.js';
import { waitFor } from './wait.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function upstream(): Promise<DemoUpstream> {
  const u = await startDemoUpstream();
  closers.push(u.close);
  return u;
}

function recorder() {
  const lines: { level: string; fields: object; message: string }[] = [];
  const logger: GatewayLogger = {
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
    error: (fields, message) => lines.push({ level: 'error', fields, message }),
  };
  return { lines, logger };
}

async function gateway(
  config: object,
  extra: Partial<Parameters<typeof startGateway>[0]> = {},
): Promise<Gateway> {
  const g = await startGateway({
    config: parseGatewayConfig({ listen: { port: 0 }, ...config }),
    ...extra,
  });
  closers.push(g.close);
  return g;
}

const perIp = (limit: number) => [
  { name: 'per-ip', key: 'ip', limits: [{ type: 'fixedWindow', limit, window: '1h' }] },
];

describe('the gateway', () => {
  it('forwards allowed requests with their body, the forwarding fields and the rate limit fields', async () => {
    const u = await upstream();
    const g = await gateway({ upstream: { url: u.url }, policies: perIp(5) });
    const res = await fetch(`${g.url}/items?x=1`, {
      method: 'POST',
      body: 'a'.repeat(100_000),
      headers: { 'x-forwarded-for': '198.51.100.7' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      ok: true,
      method: 'POST',
      path: '/items',
      query: { x: '1' },
      bodyBytes: 100_000,
    });
    expect(res.headers.get('ratelimit-policy')).toBe('"per-ip";q=5;w=3600');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/); // generated when none was sent
    expect(res.headers.get('ratelimit')).toMatch(/^"per-ip";r=4;t=\d+$/);
  });

  it('passes the client address on in X-Forwarded-For and drops hop-by-hop fields both ways', async () => {
    let seen: Record<string, unknown> = {};
    const echo: Server = createServer((req, res) => {
      seen = req.headers;
      res.writeHead(200, { 'x-secret-hop': 'no', connection: 'x-secret-hop', 'content-type': 'text/plain' });
      res.end('ok');
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => echo.close(resolve)));
    const g = await gateway({
      upstream: { url: `http://127.0.0.1:${(echo.address() as AddressInfo).port}` },
      policies: perIp(5),
    });
    const status = await new Promise<{ status: number; headers: Record<string, unknown> }>(
      (resolve, reject) => {
        const req = httpRequest(`${g.url}/h`, {
          headers: {
            'x-forwarded-for': '198.51.100.7',
            'x-drop-me': '1',
            connection: 'x-drop-me',
            te: 'trailers',
            'x-request-id': 'req-42',
          },
        });
        req.once('response', (res) => {
          res.resume();
          res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        });
        req.once('error', reject);
        req.end();
      },
    );
    expect(status.status).toBe(200);
    expect(status.headers['x-secret-hop']).toBeUndefined();
    // The request id goes to the upstream and back to the client.
    expect(seen['x-request-id']).toBe('req-42');
    expect(status.headers['x-request-id']).toBe('req-42');
    // No proxy is trusted: the client's own X-Forwarded-For is replaced by its address.
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-host']).toBe(new URL(g.url).host);
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-drop-me']).toBeUndefined();
    expect(seen.te).toBeUndefined();
  });

  it("appends to a trusted proxy's X-Forwarded-For, forwards origin-form targets and never Expect", async () => {
    let seen: { headers: Record<string, unknown>; url: string | undefined } = { headers: {}, url: undefined };
    const echo: Server = createServer((req, res) => {
      seen = { headers: req.headers, url: req.url };
      req.resume();
      req.once('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => echo.close(resolve)));
    const g = await gateway({
      upstream: { url: `http://127.0.0.1:${(echo.address() as AddressInfo).port}/api` },
      clientIp: { trustProxy: ['loopback'] },
      policies: perIp(5),
    });
    const answer = (path: string, headers: Record<string, string>, body?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${g.url}${path}`, { method: body === undefined ? 'GET' : 'POST', headers });
        req.once('response', (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
        });
        req.once('error', reject);
        req.end(body);
      });
    expect(await answer('/h', { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https' })).toBe(200);
    expect(seen.headers['x-forwarded-for']).toBe('198.51.100.7, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.url).toBe('/api/h');
    // A large upload announced with Expect: 100-continue is forwarded, without the Expect field.
    expect(await answer('/up', { expect: '100-continue', 'content-length': '5' }, 'hello')).toBe(200);
    expect(seen.headers.expect).toBeUndefined();
    // An absolute-form target cannot pick the upstream's virtual host or path.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(g.url).port), '127.0.0.1');
      socket.once('connect', () =>
        socket.write(
          'GET http://internal.example/admin?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        ),
      );
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.once('end', () => resolve(text));
      socket.once('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(seen.url).toBe('/api/admin?x=1');
  });

  it('answers 429 itself once the limit is reached, without calling the upstream', async () => {
    let calls = 0;
    const counting: Server = createServer((_req, res) => {
      calls++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => counting.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => counting.close(resolve)));
    const g = await gateway({
      upstream: { url: `http://127.0.0.1:${(counting.address() as AddressInfo).port}` },
      policies: perIp(2),
    });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${g.url}/a`)).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(calls).toBe(2);
    const denied = await fetch(`${g.url}/a`);
    expect(denied.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(denied.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await denied.json()).toMatchObject({ status: 429, 'violated-policies': ['per-ip'] });
  });

  it('answers 502 when the upstream is down and 504 when it is too slow', async () => {
    const down = await gateway({ upstream: { url: 'http://127.0.0.1:1' }, policies: perIp(5) });
    const bad = await fetch(`${down.url}/x`);
    expect(bad.status).toBe(502);
    expect(await bad.json()).toMatchObject({ status: 502, title: 'Bad Gateway' });
    const u = await upstream();
    const slow = await gateway({ upstream: { url: u.url, timeout: '200ms' }, policies: perIp(5) });
    const late = await fetch(`${slow.url}/x?delay=2000`);
    expect(late.status).toBe(504);
    expect(await late.json()).toMatchObject({ status: 504, title: 'Gateway Timeout' });
    // A request queued behind a busy connection is held to the same deadline.
    const one = await gateway({
      upstream: { url: u.url, timeout: '800ms', connections: 1 },
      policies: perIp(5),
    });
    const busy = fetch(`${one.url}/x?delay=400`);
    const started = Date.now();
    const queued = await fetch(`${one.url}/x?delay=400`);
    expect([queued.status, (await busy).status].sort()).toEqual([200, 504]);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('releases a concurrency slot when the response ends and when the client goes away', async () => {
    const u = await upstream();
    const g = await gateway({
      upstream: { url: u.url },
      policies: [{ name: 'flight', key: 'ip', concurrency: { max: 1 } }],
      rejection: { statuses: { concurrency: 409 } },
    });
    const slow = fetch(`${g.url}/slow?delay=800`);
    await new Promise((r) => setTimeout(r, 300));
    expect((await fetch(`${g.url}/x`)).status).toBe(409);
    expect((await slow).status).toBe(200);
    expect((await fetch(`${g.url}/x`)).status).toBe(200);
    // A client that gives up frees its slot at once.
    const abort = new AbortController();
    const gone = fetch(`${g.url}/slow?delay=5000`, { signal: abort.signal }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    expect(await gone).toBe('aborted');
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${g.url}/x`)).status).toBe(200);
  });

  it('reloads a changed config file, and keeps the old one when the new one is invalid', async () => {
    const u = await upstream();
    const dir = mkdtempSync(join(tmpdir(), 'sluice-gw-'));
    const path = join(dir, 'sluice.yaml');
    const yaml = (limit: number | string, extra = '') =>
      `upstream: { url: "${u.url}" }\nlisten: { port: 0 }\npolicies:\n  - name: per-ip\n    key: ip\n    limits: [{ type: fixedWindow, limit: ${limit}, window: 1h }]\n${extra}`;
    const posts =
      '  - name: posts\n    match: { methods: [POST] }\n    key: ip\n    limits: [{ type: fixedWindow, limit: 1, window: 1h }]\n';
    writeFileSync(path, yaml(1));
    const { lines, logger } = recorder();
    const g = await startGateway({ config: loadGatewayConfig(yaml(1)), configPath: path, logger });
    closers.push(g.close);
    expect((await fetch(`${g.url}/a`)).status).toBe(200);
    expect((await fetch(`${g.url}/a`)).status).toBe(429);

    // A policy added: the unchanged limit keeps its counter (still spent).
    writeFileSync(path, yaml(1, posts));
    await waitFor(() => g.config().policies.policies.length === 2);
    expect((await fetch(`${g.url}/a`)).status).toBe(429);

    // A limit changed: it counts afresh (a different limit, a different counter).
    writeFileSync(path, yaml(3, posts));
    await waitFor(() => limitOf(g) === 3);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${g.url}/a`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);

    writeFileSync(path, yaml('"ten"', posts));
    await waitFor(() => lines.some((l) => l.level === 'error'));
    const error = lines.find((l) => l.level === 'error')!;
    expect(error.message).toMatch(/previous one stays in force/);
    expect(error.message).toContain('policies[0].limits[0].limit');
    expect(limitOf(g)).toBe(3);
    expect((await fetch(`${g.url}/a`)).status).toBe(429);
  });

  it('shuts down gracefully: requests in flight finish, new connections are refused', async () => {
    const u = await upstream();
    const store = createMemoryStore();
    const g = await startGateway({
      config: parseGatewayConfig({
        listen: { port: 0 },
        upstream: { url: u.url },
        policies: [...perIp(10), { name: 'flight', key: 'ip', concurrency: { max: 5 } }],
      }),
      store,
    });
    const inFlight = fetch(`${g.url}/slow?delay=800`);
    await new Promise((r) => setTimeout(r, 300));
    expect(store.stats().leaseKeys).toBe(1);
    const closed = g.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, path: '/slow' });
    await closed;
    expect(store.stats().leaseKeys).toBe(0); // its concurrency slot was given back
    await expect(fetch(`${g.url}/x`)).rejects.toThrow();
  });
});

const limitOf = (g: Gateway) => {
  const limit = g.config().policies.policies[0]?.limits[0];
  return limit?.kind === 'fixedWindow' ? limit.limit : undefined;
};
