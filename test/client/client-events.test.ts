import { describe, expect, it } from 'vitest';
import { RECOVER_EVERY } from '../../src/client/client-adapt.js';
import type { ClientEvents } from '../../src/client/client-events.js';
import { REPEAT_WINDOW_MS } from '../../src/client/client-pacer.js';
import { type Client, createClient, QueueFullError, QueueTimeoutError } from '../../src/client/index.js';
import { createManualClock } from '../../src/core/clock.js';
import { fakeFetch, flush, status } from './fake-fetch.js';

/** A fake fetch answering from `answer(callIndex, request)`; records each call with the clock's time. */

const ok = () => new Response('ok', { status: 200 });

const NAMES: (keyof ClientEvents)[] = [
  'queued',
  'started',
  'retry',
  'throttled',
  'gateClosed',
  'gateOpened',
  'shed',
  'done',
  'concurrency',
  'rate',
  'persistentThrottling',
];

/** Records every event of `client`, in order, as `[name, payload]`. */
function record(client: Client) {
  const events: [keyof ClientEvents, unknown][] = [];
  for (const name of NAMES) client.on(name, (e) => events.push([name, e]));
  return events;
}
const only = (events: [keyof ClientEvents, unknown][], name: keyof ClientEvents) =>
  events.filter(([n]) => n === name).map(([, e]) => e);

/** A fetch that never answers until `release()`. */
function held() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const answer = async () => {
    await gate;
    return ok();
  };
  return { release, answer };
}

describe('client events', () => {
  it('a 429 (Retry-After: 1) then a 200: the exact sequence', async () => {
    const clock = createManualClock(0);
    const { fetch } = fakeFetch((i) => (i === 0 ? status(429, { 'retry-after': '1' }) : ok()), clock.now);
    const client = createClient({ fetch, clock: clock.now, sleep: clock.sleep, random: () => 0.5 });
    const events = record(client);
    const pending = client.fetch('https://api.test/items/42');
    await flush();
    clock.advance(400);
    await flush();
    expect(events.map(([name]) => name)).not.toContain('gateOpened');
    clock.advance(600);
    await flush();
    expect((await pending).status).toBe(200);
    const q = { class: 'query', endpoint: 'GET /items/:id' };
    expect(events).toEqual([
      ['queued', { ...q, attempt: 1, queued: 1 }],
      ['started', { ...q, attempt: 1, queueWaitMs: 0, running: 1 }],
      // The first response ends the one-at-a-time probe of a class with no configured limits.
      ['concurrency', { class: 'query', from: 1, to: Number.POSITIVE_INFINITY, reason: 'server' }],
      ['throttled', { ...q, status: 429, retryAfterMs: 1000 }],
      ['gateClosed', { class: 'query', untilMs: 1000, reason: 'throttled' }],
      ['retry', { ...q, attempt: 1, reason: 'status', delayMs: 1000, status: 429 }],
      // The gate's sleep and the retry's both end at 1000; the gate's was armed first.
      ['gateOpened', { class: 'query' }],
      ['queued', { ...q, attempt: 2, queued: 1 }],
      ['started', { ...q, attempt: 2, queueWaitMs: 0, running: 1 }],
      ['done', { ...q, status: 200, ok: true, attempts: 2, durationMs: 1000 }],
    ]);
  });

  it('shed: full (maxQueue 0 while the only slot is taken), then timeout (maxWait)', async () => {
    const clock = createManualClock(0);
    const slow = held();
    const { fetch } = fakeFetch(slow.answer, clock.now);
    const base = { fetch, clock: clock.now, sleep: clock.sleep, classes: { query: { concurrency: 1 } } };
    const full = createClient({ ...base, maxQueue: 0 });
    const events = record(full);
    const first = full.fetch('https://api.test/a');
    await flush();
    await expect(full.fetch('https://api.test/b')).rejects.toBeInstanceOf(QueueFullError);
    expect(only(events, 'shed')).toEqual([{ class: 'query', endpoint: 'GET /b', reason: 'full' }]);
    expect(only(events, 'done')).toEqual([
      {
        class: 'query',
        endpoint: 'GET /b',
        ok: false,
        attempts: 0,
        durationMs: 0,
        error: expect.any(QueueFullError),
      },
    ]);

    const timed = createClient({ ...base, maxWait: '1s' });
    const timedEvents = record(timed);
    const second = timed.fetch('https://api.test/c');
    const late = timed.fetch('https://api.test/d').catch((e: unknown) => e);
    await flush();
    clock.advance(999);
    await flush();
    expect(only(timedEvents, 'shed')).toEqual([]);
    clock.advance(1);
    await flush();
    expect(await late).toBeInstanceOf(QueueTimeoutError);
    expect(only(timedEvents, 'shed')).toEqual([{ class: 'query', endpoint: 'GET /d', reason: 'timeout' }]);
    slow.release();
    await Promise.all([first, second]);
  });

  it('shed: aborted while queued, and while sleeping before a retry', async () => {
    const clock = createManualClock(0);
    const slow = held();
    const queuedFetch = fakeFetch(slow.answer, clock.now);
    const opts = { clock: clock.now, sleep: clock.sleep, classes: { query: { concurrency: 1 } } };
    const client = createClient({ ...opts, fetch: queuedFetch.fetch });
    const events = record(client);
    const first = client.fetch('https://api.test/a');
    const controller = new AbortController();
    const second = client.fetch('https://api.test/b', { signal: controller.signal });
    await flush();
    controller.abort();
    await expect(second).rejects.toMatchObject({ name: 'AbortError' });
    expect(only(events, 'shed')).toEqual([{ class: 'query', endpoint: 'GET /b', reason: 'aborted' }]);
    slow.release();
    await first;

    const down = fakeFetch(() => status(503, { 'retry-after': '10' }), clock.now);
    const retrying = createClient({ ...opts, fetch: down.fetch });
    const retryEvents = record(retrying);
    const sleeper = new AbortController();
    const pending = retrying.fetch('https://api.test/c', { signal: sleeper.signal });
    await flush();
    expect(only(retryEvents, 'retry')).toHaveLength(1);
    sleeper.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(only(retryEvents, 'shed')).toEqual([{ class: 'query', endpoint: 'GET /c', reason: 'aborted' }]);
    expect(down.calls).toHaveLength(1);
  });

  it('done with ok: false and the error on a network failure that is not retried (POST)', async () => {
    const clock = createManualClock(0);
    const failure = new TypeError('fetch failed');
    const { calls, fetch } = fakeFetch(() => Promise.reject(failure), clock.now);
    const client = createClient({ fetch, clock: clock.now, sleep: clock.sleep });
    const events = record(client);
    await expect(client.fetch('https://api.test/orders', { method: 'POST' })).rejects.toBe(failure);
    expect(calls).toHaveLength(1);
    expect(events.map(([name]) => name)).toEqual(['queued', 'started', 'done']);
    expect(only(events, 'done')).toEqual([
      { class: 'command', endpoint: 'POST /orders', ok: false, attempts: 1, durationMs: 0, error: failure },
    ]);
    expect(client.stats().command).toMatchObject({ requests: 1, errors: 1, retries: 0 });
  });

  it('the retry budget stops 5xx retries after its one token; a 429 retry is not limited by it', async () => {
    const clock = createManualClock(0);
    const { calls, fetch } = fakeFetch((_, request) => {
      if (new URL(request.url).pathname === '/down') return status(503);
      return calls.filter((c) => c.request.url.endsWith('/busy')).length === 1
        ? status(429, { 'retry-after': '1' })
        : ok();
    }, clock.now);
    const client = createClient({
      fetch,
      clock: clock.now,
      sleep: clock.sleep,
      random: () => 0,
      retryBudget: { ratio: 0, minPerSecond: 0, maxTokens: 1 },
    });
    const events = record(client);
    const response = await client.fetch('https://api.test/down');
    expect(response.status).toBe(503);
    expect(calls).toHaveLength(2); // the first attempt and the one retry the budget allowed
    expect(only(events, 'retry')).toHaveLength(1);
    expect(only(events, 'shed')).toEqual([{ class: 'query', endpoint: 'GET /down', reason: 'retry-budget' }]);

    const busy = client.fetch('https://api.test/busy');
    await flush();
    clock.advance(1000);
    await flush();
    expect((await busy).status).toBe(200);
    expect(calls.map((c) => new URL(c.request.url).pathname)).toEqual(['/down', '/down', '/busy', '/busy']);
    expect(only(events, 'shed')).toHaveLength(1);
  });

  it('persistentThrottling: once after the 3rd throttle within the window, not again in that window', async () => {
    const clock = createManualClock(0);
    // 409s: throttles that do not cut the start rate (repeated 429s would space the requests out).
    const { fetch } = fakeFetch(() => status(409, { 'retry-after': '1' }), clock.now);
    const client = createClient({
      fetch,
      clock: clock.now,
      sleep: clock.sleep,
      classes: { query: { retryable: false } },
      persistentThrottling: { throttles: 3, window: '1m' },
    });
    const events = record(client);
    const throttleAt = async (atMs: number) => {
      clock.set(atMs);
      await flush();
      expect((await client.fetch('https://api.test/')).status).toBe(409);
    };
    await throttleAt(0);
    await throttleAt(1_000);
    expect(only(events, 'persistentThrottling')).toEqual([]);
    await throttleAt(2_000);
    expect(only(events, 'persistentThrottling')).toEqual([
      { class: 'query', throttles: 3, windowMs: 60_000 },
    ]);
    await throttleAt(3_000);
    await throttleAt(61_000);
    expect(only(events, 'persistentThrottling')).toHaveLength(1);
    await throttleAt(62_000); // a minute after the alert, with 3 throttles (3 000, 61 000, 62 000) in the last minute
    expect(only(events, 'persistentThrottling')).toHaveLength(2);
  });

  it('concurrency: a 409 halves it (conflict), RECOVER_EVERY 2xx add one back (recovery)', async () => {
    const clock = createManualClock(0);
    let conflict = true;
    const { fetch } = fakeFetch(() => (conflict ? status(409) : ok()), clock.now);
    const opts = { fetch, clock: clock.now, sleep: clock.sleep, classes: { query: { concurrency: 8 } } };
    const client = createClient({ ...opts, retry: { maxAttempts: 1 } });
    const events = record(client);
    expect((await client.fetch('https://api.test/')).status).toBe(409);
    expect(only(events, 'concurrency')).toEqual([
      { class: 'query', from: 1, to: 8, reason: 'server' }, // the probe ends
      { class: 'query', from: 8, to: 4, reason: 'conflict' },
    ]);
    conflict = false;
    clock.advance(1_000);
    for (let i = 0; i < RECOVER_EVERY - 1; i++) await client.fetch('https://api.test/');
    expect(only(events, 'concurrency')).toHaveLength(2);
    await client.fetch('https://api.test/');
    expect(only(events, 'concurrency').at(-1)).toEqual({
      class: 'query',
      from: 4,
      to: 5,
      reason: 'recovery',
    });
    expect(client.stats().query?.concurrency).toBe(5);
  });

  it('rate: a second 429 within REPEAT_WINDOW_MS halves the measured start rate', async () => {
    const clock = createManualClock(0);
    let throttle = false;
    const { fetch } = fakeFetch(() => (throttle ? status(429, { 'retry-after': '1' }) : ok()), clock.now);
    const opts = { fetch, clock: clock.now, sleep: clock.sleep, classes: { query: { retryable: false } } };
    const client = createClient(opts);
    const events = record(client);
    for (let i = 0; i <= 10; i++) {
      clock.set(i * 100);
      throttle = i === 10;
      await client.fetch('https://api.test/'); // starts at 0, 100, …, 1 000 (a 429)
    }
    expect(only(events, 'rate')).toEqual([]);
    clock.set(1_000 + REPEAT_WINDOW_MS - 1_000);
    await flush();
    expect((await client.fetch('https://api.test/')).status).toBe(429);
    // 12 starts over 30 s: 11 / 30 per second, halved.
    expect(only(events, 'rate')).toEqual([
      { class: 'query', to: expect.closeTo(11 / 30 / 2, 9), reason: 'throttled' },
    ]);
    expect(client.stats().query?.rateCap).toBeCloseTo(11 / 60, 9);
  });

  it('endpoint labels: beyond maxEndpoints they count as other; a custom endpoint function', async () => {
    const clock = createManualClock(0);
    const { fetch } = fakeFetch(() => ok(), clock.now);
    const opts = { fetch, clock: clock.now, sleep: clock.sleep };
    const capped = createClient({ ...opts, maxEndpoints: 2 });
    for (const path of ['/a', '/b/1', '/c', '/b/2', '/a', '/d'])
      await capped.fetch(`https://api.test${path}`);
    const endpoints = capped.stats().query?.endpoints ?? {};
    expect(Object.keys(endpoints).sort()).toEqual(['GET /a', 'GET /b/:id', 'other']);
    expect(endpoints['GET /a']?.requests).toBe(2);
    expect(endpoints['GET /b/:id']?.requests).toBe(2);
    expect(endpoints.other?.requests).toBe(2);

    const custom = createClient({
      ...opts,
      endpoint: (method, url) => {
        if (url.pathname === '/boom') throw new Error('bad label');
        return `${method.toLowerCase()}:${url.hostname}`;
      },
    });
    const events = record(custom);
    await custom.fetch('https://one.test/x');
    await custom.fetch('https://two.test/y');
    await custom.fetch('https://one.test/boom');
    expect(Object.keys(custom.stats().query?.endpoints ?? {}).sort()).toEqual([
      'get:one.test',
      'get:two.test',
      'other',
    ]);
    expect(only(events, 'done').map((e) => (e as ClientEvents['done']).endpoint)).toEqual([
      'get:one.test',
      'get:two.test',
      'other',
    ]);
  });

  it('stats: windows of statsWindow on the clock, and averageRunning over time', async () => {
    const clock = createManualClock(0);
    const slowly = async () => {
      await clock.sleep(1_000);
      return ok();
    };
    const { fetch } = fakeFetch(slowly, clock.now);
    const client = createClient({ fetch, clock: clock.now, sleep: clock.sleep, statsWindow: '10s' });
    const at = async (ms: number) => {
      clock.set(ms);
      const pending = client.fetch('https://api.test/');
      await flush();
      clock.advance(1_000);
      await flush();
      await pending;
    };
    await at(0);
    await at(5_000);
    await at(12_000);
    clock.set(14_000);
    const stats = client.stats().query!;
    expect(stats.windows).toEqual([
      { startMs: 0, requests: 2, responses: { 200: 2 }, retries: 0, throttles: 0, errors: 0 },
      { startMs: 10_000, requests: 1, responses: { 200: 1 }, retries: 0, throttles: 0, errors: 0 },
    ]);
    expect(stats.averageRunning).toBeCloseTo(3_000 / 14_000, 9); // 3 s busy over the 14 s since the first start
    expect(stats.peakRunning).toBe(1);
  });
});
