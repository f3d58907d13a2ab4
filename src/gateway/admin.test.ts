import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { type AdminServer, type AdminServerOptions, createAdminServer } from './admin.js';
import { createGatewayMetrics } from './metrics.js';

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: Partial<AdminServerOptions> = {}) {
  const metrics = createGatewayMetrics();
  const admin = createAdminServer({ metrics, ...options });
  servers.push(admin);
  const { host, port } = await admin.listen();
  return { admin, metrics, host, port, url: (path: string) => `http://${host}:${port}${path}` };
}

describe('createAdminServer', () => {
  it('listens on 127.0.0.1 and a free port by default; answers liveness', async () => {
    const { host, port, url } = await start();
    expect(host).toBe('127.0.0.1');
    expect(port).toBeGreaterThan(0);
    const res = await fetch(url('/healthz'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('serves the metrics with the registry content type', async () => {
    const { url, metrics } = await start();
    metrics.observeUpstream(200, 0.01);
    const res = await fetch(url('/metrics?debug=1'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.registry.contentType);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE sluice_upstream_responses_total counter');
    expect(text).toContain('sluice_upstream_responses_total{status_class="2xx"} 1');
  });

  it('is ready by default, and reports ready() with its details', async () => {
    expect((await fetch((await start()).url('/readyz'))).status).toBe(200);
    let state = 'up';
    const { url } = await start({
      ready: async () => ({ ok: state === 'up', details: { store: state, status: 'ignored' } }),
    });
    let res = await fetch(url('/readyz'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"status":"ready","store":"up"}');
    state = 'down';
    res = await fetch(url('/readyz'));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'not ready', store: 'down' });
  });

  it('is not ready when ready() throws, rejects or answers nonsense', async () => {
    const cases: AdminServerOptions['ready'][] = [
      () => {
        throw new Error('breaker open');
      },
      () => Promise.reject(new Error('breaker open')),
      () => 'yes' as never,
    ];
    for (const ready of cases) {
      const { url } = await start(ready === undefined ? {} : { ready });
      const res = await fetch(url('/readyz'));
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; error: string };
      expect(body.status).toBe('not ready');
      expect(body.error).toMatch(/breaker open|something other than/);
    }
  });

  it('is not ready, within about a second, when ready() hangs', async () => {
    const { url } = await start({ ready: () => new Promise(() => {}) });
    const started = performance.now();
    const res = await fetch(url('/readyz'));
    const elapsed = performance.now() - started;
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toMatch(/did not answer within 1000 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(1500);
  });

  it('answers HEAD like GET without a body, 404 for other paths, 405 for other methods', async () => {
    const { url } = await start();
    const head = await fetch(url('/healthz'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(url('/'))).status).toBe(404);
    expect((await fetch(url('/metrics/extra'))).status).toBe(404);
    const post = await fetch(url('/metrics'), { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers 500 when the metrics cannot be collected', async () => {
    const metrics = {
      registry: { contentType: 'text/plain' },
      text: () => Promise.reject(new Error('boom')),
    };
    const admin = createAdminServer({ metrics });
    servers.push(admin);
    const { host, port } = await admin.listen();
    const res = await fetch(`http://${host}:${port}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ status: 'error', error: 'boom' });
  });

  it('rejects listen() when the port is taken; close() is idempotent', async () => {
    const { port } = await start();
    const second = createAdminServer({ metrics: createGatewayMetrics(), port });
    await expect(second.listen()).rejects.toThrow(/EADDRINUSE/);
    await second.close();
    await second.close();
  });

  it('names the option, what it expected and what it got', () => {
    const metrics = createGatewayMetrics();
    expect(() => createAdminServer({} as AdminServerOptions)).toThrow(ConfigError);
    expect(() => createAdminServer({ metrics, port: 70_000 })).toThrow(/`port`.*got `70000` \(number\)/);
    expect(() => createAdminServer({ metrics, port: -1 })).toThrow(/`port` to be an integer ≥ 0/);
    expect(() => createAdminServer({ metrics, ready: true as never })).toThrow(/`ready` to be a function/);
    expect(() => createAdminServer({ metrics, readyTimeout: 'soon' })).toThrow(/`readyTimeout`/);
    expect(() => createAdminServer({ metrics, hots: 'x' } as never)).toThrow(/Unknown option `hots`/);
  });
});
