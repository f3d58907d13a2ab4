import { describe, expect, it } from 'vitest';
import { createClient, HttpStatusError } from '../../src/client/index.js';
import { createManualClock } from '../../src/core/clock.js';
import { RateLimitedError } from '../../src/core/errors.js';
import { tokenBucket } from '../../src/core/limits.js';
import { fakeFetch, flush } from './fake-fetch.js';

/** A fake fetch answering from `answer(callIndex, request)`; records each call with the clock's time. */

const ok = () =>
  new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json' } });

describe('createClient', () => {
  it('honours Retry-After exactly: the retry starts 1000 ms after a 429 with Retry-After: 1', async () => {
    const clock = createManualClock(1_700_000_000_000);
    const { calls, fetch } = fakeFetch(
      (i) => (i === 0 ? new Response('slow down', { status: 429, headers: { 'retry-after': '1' } }) : ok()),
      clock.now,
    );
    const client = createClient({ fetch, clock: clock.now, sleep: clock.sleep, random: () => 0.5 });
    const events: unknown[] = [];
    client.on('retry', (e) => events.push(['retry', e]));
    client.on('throttled', (e) => events.push(['throttled', e]));
    client.on('gateClosed', (e) => events.push(['gate', e]));
    const pending = client.fetch('https://api.test/items');
    await flush();
    expect(calls).toHaveLength(1);
    clock.advance(999);
    await flush();
    expect(calls).toHaveLength(1);
    clock.advance(1);
    await flush();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.atMs - calls[0]!.atMs).toBe(1000);
    expect((await pending).status).toBe(200);
    expect(events).toEqual([
      ['throttled', { class: 'query', endpoint: 'GET /items', status: 429, retryAfterMs: 1000 }],
      ['gate', { class: 'query', untilMs: 1_700_000_001_000, reason: 'throttled' }],
      [
        'retry',
        { class: 'query', endpoint: 'GET /items', attempt: 1, reason: 'status', delayMs: 1000, status: 429 },
      ],
    ]);
    const stats = client.stats().query!;
    expect(stats).toMatchObject({ responses: { 200: 1, 429: 1 }, retries: 1, throttles: 1, running: 0 });
  });

  it('reads nextValidRequestDate from a JSON 429 body', async () => {
    const clock = createManualClock(Date.parse('2026-01-01T00:00:00Z'));
    const body = JSON.stringify({ nextValidRequestDate: '2026-01-01T00:00:02Z' });
    const { calls, fetch } = fakeFetch(
      (i) =>
        i === 0 ? new Response(body, { status: 429, headers: { 'content-type': 'application/json' } }) : ok(),
      clock.now,
    );
    const client = createClient({ fetch, clock: clock.now, sleep: clock.sleep });
    const pending = client.fetch('https://api.test/');
    await flush();
    clock.advance(1999);
    await flush();
    expect(calls).toHaveLength(1);
    clock.advance(1);
    await flush();
    expect((await pending).status).toBe(200);
    expect(calls).toHaveLength(2);
  });

  it('throws RateLimitedError when the server asks for a wait longer than maxRetryAfter', async () => {
    const { calls, fetch } = fakeFetch(
      () => new Response('', { status: 429, headers: { 'retry-after': '120' } }),
    );
    const client = createClient({ fetch });
    const error = await client.fetch('https://api.test/').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(120_000);
    expect(calls).toHaveLength(1);
  });

  it('never replays a POST without an Idempotency-Key on 503, and replays one with it', async () => {
    const plain = fakeFetch(() => new Response('down', { status: 503 }));
    const client = createClient({ fetch: plain.fetch, random: () => 0 });
    const response = await client.fetch('https://api.test/orders', { method: 'POST', body: '{}' });
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('down');
    expect(plain.calls).toHaveLength(1);

    const keyed = fakeFetch((i) => (i === 0 ? new Response('down', { status: 503 }) : ok()));
    const retrying = createClient({ fetch: keyed.fetch, random: () => 0 });
    const second = await retrying.fetch('https://api.test/orders', {
      method: 'POST',
      body: '{"n":1}',
      headers: { 'idempotency-key': 'k-1' },
    });
    expect(second.status).toBe(200);
    expect(keyed.calls).toHaveLength(2);
    expect(await keyed.calls[1]!.request.text()).toBe('{"n":1}');
    expect(retrying.stats().command).toMatchObject({ retries: 1, responses: { 503: 1, 200: 1 } });
  });

  it('retries network errors of idempotent requests only', async () => {
    const flaky = fakeFetch((i) => (i === 0 ? Promise.reject(new TypeError('fetch failed')) : ok()));
    const client = createClient({ fetch: flaky.fetch, random: () => 0 });
    expect((await client.fetch('https://api.test/a')).status).toBe(200);
    expect(flaky.calls).toHaveLength(2);

    const broken = fakeFetch(() => Promise.reject(new TypeError('fetch failed')));
    const posting = createClient({ fetch: broken.fetch, random: () => 0 });
    await expect(posting.fetch('https://api.test/a', { method: 'POST' })).rejects.toThrow('fetch failed');
    expect(broken.calls).toHaveLength(1);
  });

  it('aborting a queued request rejects with AbortError and sends nothing', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { calls, fetch } = fakeFetch(async () => {
      await held;
      return ok();
    });
    const client = createClient({ fetch, classes: { query: { concurrency: 1 } } });
    const first = client.fetch('https://api.test/1');
    const controller = new AbortController();
    const second = client.fetch('https://api.test/2', { signal: controller.signal });
    await flush();
    expect(client.stats().query).toMatchObject({ running: 1, queued: 1 });
    controller.abort();
    await expect(second).rejects.toMatchObject({ name: 'AbortError' });
    release();
    expect((await first).status).toBe(200);
    expect(calls.map((c) => new URL(c.request.url).pathname)).toEqual(['/1']);
    expect(client.stats().query).toMatchObject({ running: 0, queued: 0 });
  });

  it('aborting during a retry sleep rejects with AbortError and sends no retry', async () => {
    const clock = createManualClock(0);
    const { calls, fetch } = fakeFetch(
      () => new Response('', { status: 503, headers: { 'retry-after': '10' } }),
    );
    const client = createClient({ fetch, clock: clock.now, sleep: clock.sleep });
    const controller = new AbortController();
    const pending = client.fetch('https://api.test/', { signal: controller.signal });
    await flush();
    expect(calls).toHaveLength(1);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    clock.advance(20_000);
    await flush();
    expect(calls).toHaveLength(1);
    expect(client.stats().query?.running).toBe(0);
  });

  it('halves concurrency on 409 (at least 1) and recovers by one per 10 successes', async () => {
    let conflict = true;
    const { fetch } = fakeFetch(() => (conflict ? new Response('busy', { status: 409 }) : ok()));
    const client = createClient({ fetch, random: () => 0, classes: { query: { concurrency: 8 } } });
    const concurrency = () => client.stats().query!.concurrency;
    expect((await client.fetch('https://api.test/')).status).toBe(409);
    expect(concurrency()).toBe(4);
    await client.fetch('https://api.test/');
    expect(concurrency()).toBe(2);
    await client.fetch('https://api.test/');
    await client.fetch('https://api.test/');
    expect(concurrency()).toBe(1);
    expect(client.stats().query).toMatchObject({ throttles: 4, retries: 0 });
    conflict = false;
    for (let i = 0; i < 9; i++) await client.fetch('https://api.test/');
    expect(concurrency()).toBe(1);
    await client.fetch('https://api.test/');
    expect(concurrency()).toBe(2);
  });

  it('classifies by method, merges base URL and default headers, and paces configured limits at margin', async () => {
    const clock = createManualClock(0);
    const { calls, fetch } = fakeFetch(() => ok(), clock.now);
    const client = createClient({
      fetch,
      clock: clock.now,
      sleep: clock.sleep,
      baseUrl: 'https://api.test/v1/',
      headers: { authorization: 'Bearer t', 'x-a': 'default' },
      classes: { query: { limits: [tokenBucket({ rate: 10, burst: 10 })] }, command: {} },
    });
    const gets = Array.from({ length: 10 }, () => client.fetch('items', { headers: { 'x-a': 'mine' } }));
    const post = client.fetch('items', { method: 'POST' });
    await flush();
    expect(calls).toHaveLength(10); // 9 GETs (burst 10 at 0.9) and the POST, in its own class
    expect(calls[0]!.request.url).toBe('https://api.test/v1/items');
    expect(calls[0]!.request.headers.get('authorization')).toBe('Bearer t');
    expect(calls[0]!.request.headers.get('x-a')).toBe('mine');
    expect(calls.filter((c) => c.request.method === 'POST')).toHaveLength(1);
    clock.advance(Math.ceil(1000 / 9));
    await flush();
    expect(calls).toHaveLength(11);
    await Promise.all([...gets, post]);
    expect(client.stats().query!.limits).toEqual(['10/1s@0.9']);
  });

  it('json() parses 2xx bodies and throws HttpStatusError otherwise', async () => {
    const { fetch } = fakeFetch((_, request) =>
      new URL(request.url).pathname === '/missing' ? new Response('no', { status: 404 }) : ok(),
    );
    const client = createClient({ fetch });
    expect(await client.json('https://api.test/x')).toEqual({ ok: true });
    const error = await client.json('https://api.test/missing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect((error as HttpStatusError).status).toBe(404);
  });

  it('rejects bad options with a ConfigError naming the option', () => {
    expect(() => createClient({ margin: 0 })).toThrow(/`margin`/);
    expect(() => createClient({ margin: 1.5 })).toThrow(/`margin`/);
    expect(() => createClient({ retry: { statuses: [401] } })).toThrow(/statuses\[0\]/);
  });

  it("orders a class's queue by init.priority: high, then auto, then low", async () => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { fetch } = fakeFetch(async (i, request) => {
      order.push(new URL(request.url).pathname);
      if (i === 0) await held;
      return ok();
    });
    const client = createClient({
      fetch,
      classes: { api: { concurrency: 1, match: () => true } },
      adaptive: false,
    });
    const first = client.fetch('https://api.test/first');
    await flush();
    const rest = [
      client.fetch('https://api.test/low', { priority: 'low' } as RequestInit),
      client.fetch('https://api.test/auto'),
      client.fetch('https://api.test/high', { priority: 'high' } as RequestInit),
    ];
    release();
    await Promise.all([first, ...rest]);
    expect(order).toEqual(['/first', '/high', '/auto', '/low']);
  });
});
