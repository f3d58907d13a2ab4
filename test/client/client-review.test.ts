import { describe, expect, it } from 'vitest';
import type { ClientEvents } from '../../src/client/client-events.js';
import { type Client, type ClientOptions, createClient } from '../../src/client/index.js';
import { createManualClock } from '../../src/core/clock.js';
import { advance, fakeFetch, flush, latch, status } from './fake-fetch.js';

/** The manual clock's start: a whole second, so that Unix times in seconds convert exactly. */
const T0 = 1_700_000_000_000;

/** A fake fetch answering from `answer(callIndex, request)`; records each call with the clock's time. */

const ok = (headers: Record<string, string> = {}) => new Response('ok', { status: 200, headers });

/** Records the events of `client` by name. */
function record(client: Client) {
  const events = {
    retry: [] as ClientEvents['retry'][],
    gateClosed: [] as ClientEvents['gateClosed'][],
    concurrency: [] as ClientEvents['concurrency'][],
    rate: [] as ClientEvents['rate'][],
    throttled: [] as ClientEvents['throttled'][],
  };
  client.on('retry', (e) => events.retry.push(e));
  client.on('gateClosed', (e) => events.gateClosed.push(e));
  client.on('concurrency', (e) => events.concurrency.push(e));
  client.on('rate', (e) => events.rate.push(e));
  client.on('throttled', (e) => events.throttled.push(e));
  return events;
}

/** A client on a manual clock at T0 with exact backoff delays (1000, 2000 … ms). */
function setup(answer: Parameters<typeof fakeFetch>[0], options: ClientOptions = {}) {
  const clock = createManualClock(T0);
  const { calls, fetch } = fakeFetch(answer, clock.now);
  const client = createClient({
    fetch,
    clock: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    retry: { backoff: { jitter: 'none' } },
    ...options,
  });
  return { clock, calls, client, events: record(client) };
}

/** `X-Ratelimit-Retry-After` as the Platform API sends it: a Unix time in seconds. */
const unixSecondsAhead = (ms: number) => String((T0 + ms) / 1000);

describe('client review: which server waits a status takes', () => {
  it('a 500 carrying X-Ratelimit-Retry-After (a reset 60 s ahead) backs off 1000 then 2000 ms', async () => {
    const reset = unixSecondsAhead(60_000);
    const { clock, calls, client, events } = setup((i) =>
      i < 2 ? status(500, { 'x-ratelimit-retry-after': reset }) : ok(),
    );
    const pending = client.fetch('https://api.test/items');
    await flush();
    expect(calls).toHaveLength(1);
    await advance(clock, 999);
    expect(calls).toHaveLength(1);
    await advance(clock, 1);
    expect(calls).toHaveLength(2);
    await advance(clock, 1999);
    expect(calls).toHaveLength(2);
    await advance(clock, 1);
    expect(calls).toHaveLength(3);
    expect((await pending).status).toBe(200);
    expect(calls.map((c) => c.atMs - T0)).toEqual([0, 1000, 3000]);
    expect(events.retry.map((e) => e.delayMs)).toEqual([1000, 2000]);
    expect(events.gateClosed).toEqual([]);
  });

  it('a 503 with Retry-After: 3 is retried after exactly 3000 ms, X-Ratelimit-Retry-After or not', async () => {
    for (const extra of [{}, { 'x-ratelimit-retry-after': unixSecondsAhead(60_000) }]) {
      const { clock, calls, client, events } = setup((i) =>
        i === 0 ? status(503, { 'retry-after': '3', ...extra }) : ok(),
      );
      const pending = client.fetch('https://api.test/items');
      await flush();
      await advance(clock, 2999);
      expect(calls).toHaveLength(1);
      await advance(clock, 1);
      expect(calls).toHaveLength(2);
      expect((await pending).status).toBe(200);
      expect(calls[1]!.atMs - calls[0]!.atMs).toBe(3000);
      expect(events.retry.map((e) => e.delayMs)).toEqual([3000]);
    }
  });

  it('a 429 with X-Ratelimit-Retry-After (a Unix time 30 s ahead) waits until that time', async () => {
    const { clock, calls, client, events } = setup((i) =>
      i === 0 ? status(429, { 'x-ratelimit-retry-after': unixSecondsAhead(30_000) }) : ok(),
    );
    const pending = client.fetch('https://api.test/items');
    await flush();
    expect(events.gateClosed).toEqual([{ class: 'query', untilMs: T0 + 30_000, reason: 'throttled' }]);
    await advance(clock, 29_999);
    expect(calls).toHaveLength(1);
    await advance(clock, 1);
    expect(calls).toHaveLength(2);
    expect((await pending).status).toBe(200);
    expect(calls[1]!.atMs).toBe(T0 + 30_000);
    expect(events.retry.map((e) => e.delayMs)).toEqual([30_000]);
  });
});

describe('client review: congestion events', () => {
  const eight = { adaptive: false, classes: { query: { concurrency: 8 } } } as const;

  it('a repeated 429 (within REPEAT_WINDOW_MS) halves the concurrency, a first one does not', async () => {
    const { clock, client, events } = setup(
      (i) => (i < 2 ? status(429, { 'retry-after': '1' }) : ok()),
      eight,
    );
    const pending = client.fetch('https://api.test/items');
    await flush();
    expect(client.stats().query!.concurrency).toBe(8);
    expect(events.concurrency).toEqual([]);
    await advance(clock, 1000);
    expect(client.stats().query!.concurrency).toBe(4);
    expect(events.concurrency).toEqual([{ class: 'query', from: 8, to: 4, reason: 'conflict' }]);
    expect(events.rate).toHaveLength(1);
    for (let i = 0; i < 5; i++) await advance(clock, 1000);
    expect((await pending).status).toBe(200);
    expect(client.stats().query!.concurrency).toBe(4);
  });

  it('429s answered to requests sent before the cut are one congestion event: one halving, one rate cut', async () => {
    const answers = latch();
    const { clock, calls, client, events } = setup(async (i) => {
      if (i >= 4) return ok();
      await answers.promise;
      return status(429, { 'retry-after': '1' });
    }, eight);
    // Four requests sent 10 ms apart (a measurable start rate), all answered 429 at T0 + 100.
    const pending: Promise<Response>[] = [];
    for (let k = 0; k < 4; k++) {
      if (k > 0) await advance(clock, 10);
      pending.push(client.fetch(`https://api.test/items/${k}`));
      await flush();
    }
    expect(calls.map((c) => c.atMs - T0)).toEqual([0, 10, 20, 30]);
    await advance(clock, 70);
    answers.release();
    await flush();
    expect(events.throttled).toHaveLength(4);
    expect(events.concurrency).toEqual([{ class: 'query', from: 8, to: 4, reason: 'conflict' }]);
    expect(client.stats().query!.concurrency).toBe(4);
    expect(events.rate).toHaveLength(1);
    for (let i = 0; i < 40; i++) await advance(clock, 100);
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(events.concurrency).toHaveLength(1);
    expect(events.rate).toHaveLength(1);
  });

  it('a burst of 409s to requests sent together halves the concurrency once', async () => {
    const answers = latch();
    const { clock, client, events } = setup(async () => {
      await answers.promise;
      return status(409);
    }, eight);
    const pending = [1, 2, 3, 4].map((k) => client.fetch(`https://api.test/items/${k}`));
    await flush();
    expect(client.stats().query!.running).toBe(4);
    await advance(clock, 100);
    answers.release();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual([409, 409, 409, 409]);
    expect(events.throttled).toHaveLength(4);
    expect(events.concurrency).toEqual([{ class: 'query', from: 8, to: 4, reason: 'conflict' }]);
    expect(client.stats().query!.concurrency).toBe(4);
  });
});

describe('client review: learning and gating', () => {
  it('learns a limit per announced IETF policy and keeps both when later responses name one', async () => {
    const both = '"s";q=10;w=1, "m";q=100;w=60';
    const answers = [
      { 'ratelimit-policy': both, ratelimit: '"s";r=9;t=1, "m";r=95;t=60' },
      // Only "m" announced and reported.
      { 'ratelimit-policy': '"m";q=100;w=60', ratelimit: '"m";r=94;t=59' },
      // Both announced, only "m" reported: "m" is the binding quota.
      { 'ratelimit-policy': both, ratelimit: '"m";r=93;t=58' },
    ];
    const { clock, client } = setup((i) => ok(answers[i]));
    const limits = () => client.stats().query!.limits;
    expect((await client.fetch('https://api.test/a')).status).toBe(200);
    expect(limits()).toEqual(['learned:s', 'learned:m']);
    await advance(clock, 1000);
    expect((await client.fetch('https://api.test/a')).status).toBe(200);
    expect(limits()).toEqual(['learned:s', 'learned:m']);
    await advance(clock, 1000);
    expect((await client.fetch('https://api.test/a')).status).toBe(200);
    expect(limits()).toEqual(['learned:s', 'learned:m']);
  });

  it('a 429 without a server wait closes the gate for the un-jittered backoff, even with random 0.001', async () => {
    // Default (full) jitter: the retry's delay is random × the exponential delay.
    const { clock, calls, client, events } = setup((i) => (i < 2 ? status(429) : ok()), {
      random: () => 0.001,
      retry: {},
    });
    const pending = client.fetch('https://api.test/items');
    await flush();
    expect(events.gateClosed).toHaveLength(1);
    expect(events.gateClosed[0]!.untilMs - T0).toBe(1000);
    expect(events.throttled.map((e) => e.retryAfterMs)).toEqual([1000]);
    // The retry's own delay is jittered (0.001 × 1000 ms), but it waits at the closed gate.
    expect(events.retry.map((e) => e.delayMs)).toEqual([1]);
    await advance(clock, 999);
    expect(calls).toHaveLength(1);
    await advance(clock, 1);
    expect(calls).toHaveLength(2);
    // Attempt 2: the gate closes for base × 2 from the second 429.
    expect(events.gateClosed.map((e) => e.untilMs - T0)).toEqual([1000, 3000]);
    for (let i = 0; i < 4; i++) await advance(clock, 1000);
    expect((await pending).status).toBe(200);
  });
});
