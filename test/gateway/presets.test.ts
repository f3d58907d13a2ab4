// The gateway with each preset in front of a fake upstream, end to end on loopback: the documented numbers,
// header fields and bodies as a client of the gateway sees them. (The presets' own tests, in src/presets,
// walk every limit on a manual clock; these check that the gateway serves them as documented.)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { startDemoUpstream } from '../../src/gateway/demo-upstream.js';
import { createGatewayLogger } from '../../src/gateway/log.js';
import { type RunningGateway, runGateway } from '../../src/gateway/run.js';
import { createKeyRegistry } from '../../src/keys/registry.js';
import { waitFor } from './wait.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function presetGateway(preset: string, extra: object = {}): Promise<RunningGateway> {
  const upstream = await startDemoUpstream();
  closers.push(upstream.close);
  const running = await runGateway({
    config: parseGatewayConfig({ preset, listen: { port: 0 }, upstream: { url: upstream.url }, ...extra }),
    logger: createGatewayLogger({ enabled: false }),
  });
  closers.push(running.close);
  return running;
}

/** A key file with one key per account, and the raw keys. */
async function keyFile(accounts: readonly string[], max?: number) {
  const file = join(mkdtempSync(join(tmpdir(), 'sluice-keys-')), 'keys.json');
  const registry = createKeyRegistry({ file, ...(max === undefined ? {} : { maxActivePerAccount: max }) });
  const keys: string[] = [];
  for (const account of accounts) keys.push((await registry.create({ account })).key);
  return { file, keys, registry };
}

async function burst(url: string, count: number, init?: RequestInit): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(url, init);
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

describe('the gateway with each preset', () => {
  it('sales-data: 50 requests per 10 s, then 429 with Retry-After', async () => {
    const { gateway } = await presetGateway('sales-data');
    const init = { headers: { 'x-api-key': 'k-1' } };
    // Until the first 429: a fixed window aligned to the clock, so a burst that straddles its edge gets up
    // to 50 more, never fewer than 50 in a row.
    let passed = 0;
    let denied: Response | undefined;
    while (denied === undefined && passed <= 100) {
      const res = await fetch(`${gateway.url}/v1/products`, init);
      if (res.status === 429) denied = res;
      else {
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        passed++;
      }
    }
    expect(passed).toBeGreaterThanOrEqual(50);
    expect(passed).toBeLessThanOrEqual(100);
    expect(Number(denied!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(denied!.headers.get('content-type')).toBe('application/problem+json');
    expect(await denied!.json()).toMatchObject({ status: 429, 'violated-policies': ['sales-data'] });
  });

  it('merchant-api: per API key (401 without a valid one), burst 60, 429 + Retry-After, 409 at 5 in flight', async () => {
    const { file, keys } = await keyFile(['acme', 'globex'], 6);
    const { gateway } = await presetGateway('merchant-api', { keys: { file } });
    expect((await fetch(`${gateway.url}/v1/orders`)).status).toBe(401);
    expect((await fetch(`${gateway.url}/v1/orders`, { headers: { 'x-api-key': 'sk_unknown' } })).status).toBe(
      401,
    );

    const a = { headers: { 'x-api-key': keys[0]! } };
    const first = await fetch(`${gateway.url}/v1/orders`, a);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('60');
    expect(first.headers.get('ratelimit-remaining')).toBe('59');
    expect(first.headers.get('x-concurrency-limit')).toBe('5');
    expect(first.headers.get('x-concurrency-current')).toBe('1');
    expect(first.headers.get('retry-after')).toBeNull();
    // Until the first 429: 59 more of the burst, plus whatever refills at 10/s while the burst runs.
    let passed = 0;
    let denied: Response | undefined;
    while (denied === undefined && passed < 1_000) {
      const res = await fetch(`${gateway.url}/v1/orders`, a);
      await res.arrayBuffer();
      if (res.status === 429) denied = res;
      else {
        expect(res.status).toBe(200);
        passed++;
      }
    }
    expect(passed).toBeGreaterThanOrEqual(59);
    expect(denied?.status).toBe(429);
    expect(Number(denied!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(denied!.headers.get('ratelimit-remaining')).toBe('0');

    // Another API user has its own bucket; 5 of its requests in flight, the 6th gets 409.
    const b = { headers: { 'x-api-key': keys[1]! } };
    const slow = Array.from({ length: 5 }, () => fetch(`${gateway.url}/v1/rates?delay=1000`, b));
    await new Promise((r) => setTimeout(r, 400));
    const busy = await fetch(`${gateway.url}/v1/rates`, b);
    expect(busy.status).toBe(409);
    expect(busy.headers.get('x-concurrency-limit')).toBe('5');
    expect(busy.headers.get('x-concurrency-current')).toBe('5');
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  });

  it('platform-api: the documented fields on every response, and its 429 body byte for byte', async () => {
    const { file, keys } = await keyFile(['acme']);
    const { gateway } = await presetGateway('platform-api', { keys: { file } });
    const a = { headers: { 'x-api-key': keys[0]! } };
    const ok = await fetch(`${gateway.url}/platform/v2/process/site-1`, { ...a, method: 'POST' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-limit')).toBe('1');
    expect(ok.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(ok.headers.get('x-ratelimit-retry-after'))).toBeGreaterThan(Date.now() / 1000);
    const denied = await fetch(`${gateway.url}/platform/v2/process/site-1`, { ...a, method: 'POST' });
    expect(denied.status).toBe(429);
    expect(await denied.text()).toBe('{"success":false,"message":"Too many attempts."}');
    expect(denied.headers.get('retry-after')).toBeNull();
    // Every other endpoint: 5 per second each (a burst can straddle a second: 5 to 10 pass).
    const statuses = await burst(`${gateway.url}/platform/v2/sites`, 12, a);
    expect(count(statuses, 200)).toBeGreaterThanOrEqual(5);
    expect(count(statuses, 200)).toBeLessThanOrEqual(10);
  });

  it('app-platform: per user per API family, with the documented 429 body', async () => {
    const { file, keys } = await keyFile(['app-1']);
    const { gateway } = await presetGateway('app-platform', { keys: { file } });
    const a = { headers: { 'x-api-key': keys[0]! } };
    // Until the first 429: 20 in the window (a burst that straddles the window's edge gets up to 20 more).
    let passed = 0;
    let denied: Response | undefined;
    while (denied === undefined && passed <= 40) {
      const res = await fetch(`${gateway.url}/v1/communicate/email`, { ...a, method: 'POST' });
      if (res.status === 429) denied = res;
      else {
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        passed++;
      }
    }
    expect(passed).toBeGreaterThanOrEqual(20);
    expect(passed).toBeLessThanOrEqual(40);
    if (denied === undefined) throw new Error('no 429 within 41 requests');
    const body = (await denied.json()) as Record<string, string>;
    expect(Object.keys(body)).toEqual(['message', 'referenceUrl', 'nextValidRequestDate']);
    expect(body.referenceUrl).toBe('https://developers.fliplet.com/Rate-limiting-for-API.html');
    expect(new Date(body.nextValidRequestDate ?? 0).getTime()).toBeGreaterThan(Date.now());
  });

  it('marketplace: shadow in production (never rejects), enforced in dev', async () => {
    const prod = await presetGateway('marketplace', { environment: 'production' });
    const statuses = await burst(`${prod.gateway.url}/v1/integration_api/listings/query`, 230);
    expect(count(statuses, 429)).toBe(0);
    const text = await prod.metrics.text();
    expect(text).toMatch(/sluice_shadow_would_reject_total\{policy="[^"]+"\} [1-9]/);
    const dev = await presetGateway('marketplace', { environment: 'dev' });
    const devStatuses = await burst(`${dev.gateway.url}/v1/integration_api/listings/query`, 230);
    expect(count(devStatuses, 429)).toBeGreaterThan(0);
  });

  it('logs every request as one JSON line, 401s included, with hashed keys only', async () => {
    const { file, keys } = await keyFile(['acme']);
    const upstream = await startDemoUpstream();
    closers.push(upstream.close);
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
        done();
      },
    });
    const running = await runGateway({
      config: parseGatewayConfig({
        preset: 'merchant-api',
        listen: { port: 0 },
        upstream: { url: upstream.url },
        keys: { file },
      }),
      logger: createGatewayLogger({ destination }),
    });
    closers.push(running.close);
    await (await fetch(`${running.gateway.url}/v1/orders?secret=1`)).arrayBuffer();
    await (
      await fetch(`${running.gateway.url}/v1/orders`, { headers: { 'x-api-key': keys[0]! } })
    ).arrayBuffer();
    await waitFor(() => lines.filter((l) => l.msg === 'request').length === 2);
    const [unauthorized, allowed] = lines.filter((l) => l.msg === 'request');
    expect(unauthorized).toMatchObject({ status: 401, outcome: 'unchecked', path: '/v1/orders' });
    expect(allowed).toMatchObject({ status: 200, outcome: 'allowed', path: '/v1/orders' });
    const text = JSON.stringify(lines);
    expect(text).not.toContain(keys[0]!);
    expect(text).not.toContain('secret=1');
  });
});
