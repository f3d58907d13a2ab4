import { describe, expect, it } from 'vitest';
import type { ClientEvents } from '../../src/client/client-events.js';
import { type ClientOptions, createClient, QueueFullError } from '../../src/client/index.js';
import { createManualClock } from '../../src/core/clock.js';
import { RateLimitedError } from '../../src/core/errors.js';
import { advance, fakeFetch, flush, latch, status } from './fake-fetch.js';

const T0 = 1_700_000_000_000;

/** A fake fetch answering from `answer(callIndex, request)`; records each call with the clock's time. */

const pathOf = (request: Request) => new URL(request.url).pathname;
const ok = () => new Response('ok', { status: 200 });
/** Follows a promise without awaiting it: whether it settled, and with what. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** A client on a manual clock at T0, exact backoff delays, no probe, whose `shed` events are recorded. */
function setup(answer: Parameters<typeof fakeFetch>[0], options: ClientOptions = {}) {
  const clock = createManualClock(T0);
  const fake = fakeFetch(answer, clock.now);
  const client = createClient({
    fetch: fake.fetch,
    clock: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    adaptive: false,
    retry: { backoff: { jitter: 'none' } },
    ...options,
  });
  const shed: ClientEvents['shed'][] = [];
  client.on('shed', (e) => shed.push(e));
  return { clock, client, shed, ...fake };
}

describe('client review: a retry in the queue', () => {
  it('waits no longer than retry.deadline leaves, then the kept 503 stands (the gate held by another 429)', async () => {
    const { clock, client, shed, paths } = setup(
      (_, request) =>
        pathOf(request) === '/a' ? status(503, {}, 'down') : status(429, { 'retry-after': '300' }),
      {
        retry: {
          deadline: '10s',
          maxRetryAfter: '10m',
          onLongRetryAfter: 'wait',
          backoff: { jitter: 'none' },
        },
      },
    );
    const a = track(client.fetch('https://api.test/a'));
    await flush();
    // /b's 429 closes the class's gate for 5 minutes; its own retry is past the deadline, so it returns.
    const b = await client.fetch('https://api.test/b');
    expect(b.status).toBe(429);
    expect(paths()).toEqual(['/a', '/b']);
    await advance(clock, 1000); // /a's retry (backoff 1000 ms) queues with 9000 ms of its deadline left
    expect(client.stats().query!.queued).toBe(1);
    await advance(clock, 8999);
    expect(a.settled).toBe(false);
    await advance(clock, 1);
    expect(a.settled).toBe(true);
    expect(a.error).toBeUndefined();
    expect(a.value?.status).toBe(503);
    expect(await a.value?.text()).toBe('down');
    expect(paths()).toEqual(['/a', '/b']);
    expect(shed).toEqual([{ class: 'query', endpoint: 'GET /a', reason: 'timeout' }]);
  });

  it('goes ahead of new requests of the same priority', async () => {
    const hold = latch();
    let aAttempts = 0;
    const { clock, client, paths } = setup(
      async (_, request) => {
        const path = pathOf(request);
        if (path === '/a' && aAttempts++ === 0) return status(503);
        if (path === '/h') await hold.promise;
        return ok();
      },
      { classes: { query: { concurrency: 1 } } },
    );
    // /a fails at once and sleeps 1000 ms; /h takes the one slot until released; /b and /c queue.
    const pending = ['a', 'h', 'b', 'c'].map((p) => client.fetch(`https://api.test/${p}`));
    await flush();
    expect(paths()).toEqual(['/a', '/h']);
    expect(client.stats().query!.queued).toBe(2);
    await advance(clock, 1000); // /a's retry queues behind the running /h, with /b and /c
    expect(client.stats().query!.queued).toBe(3);
    await advance(clock, 500);
    hold.release();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(paths()).toEqual(['/a', '/h', '/a', '/b', '/c']);
  });
});

describe('client review: a server wait beyond maxRetryAfter (onLongRetryAfter: fail)', () => {
  it("rejects the request, the class's queued requests and new ones while the gate is closed", async () => {
    const answer = latch();
    const { clock, client, calls } = setup(
      async (i) => {
        if (i > 0) return ok();
        await answer.promise;
        return status(429, { 'retry-after': '600' });
      },
      { classes: { query: { concurrency: 1 } } },
    );
    const states = ['a', 'b', 'c'].map((p) => track(client.fetch(`https://api.test/${p}`)));
    await flush();
    expect(client.stats().query).toMatchObject({ running: 1, queued: 2 });
    answer.release();
    await flush();
    // The 429's own request, then the two queued behind it.
    for (const state of states) {
      expect(state.settled).toBe(true);
      expect(state.error).toBeInstanceOf(RateLimitedError);
      expect((state.error as RateLimitedError).retryAfterMs).toBe(600_000);
    }
    expect(client.stats().query).toMatchObject({ running: 0, queued: 0 });
    clock.advance(1000);
    const d = track(client.fetch('https://api.test/d'));
    await flush(1);
    expect(d.settled).toBe(true);
    expect(d.error).toBeInstanceOf(RateLimitedError);
    expect((d.error as RateLimitedError).retryAfterMs).toBe(599_000);
    expect(calls).toHaveLength(1);
  });
});

describe('client review: the retry budget', () => {
  it('records a request when its first attempt is sent: requests shed from a full queue earn no token', async () => {
    const hold = latch();
    const { clock, client, shed, paths } = setup(
      async (_, request) => {
        const path = pathOf(request);
        if (path === '/hold') {
          await hold.promise;
          return ok();
        }
        return status(503);
      },
      {
        retryBudget: { ratio: 1, minPerSecond: 0, maxTokens: 10 },
        maxQueue: 0,
        classes: { query: { concurrency: 1 } },
        retry: { maxAttempts: 50, backoff: { base: '10ms', cap: '10ms', jitter: 'none' } },
      },
    );
    const drive = async (state: { settled: boolean }) => {
      for (let i = 0; i < 100 && !state.settled; i++) await advance(clock, 10);
      expect(state.settled).toBe(true);
    };
    const count = (path: string) => paths().filter((p) => p === path).length;

    // Empty the budget: it starts full (10), the request earns 1 (capped at 10), 10 retries spend it.
    const drain = track(client.fetch('https://api.test/drain'));
    await drive(drain);
    expect(drain.value?.status).toBe(503);
    expect(count('/drain')).toBe(11);

    // One request sent (earns 1 token), three shed from the full queue (earn nothing).
    const held = client.fetch('https://api.test/hold');
    await flush();
    for (let i = 0; i < 3; i++)
      await expect(client.fetch('https://api.test/shed')).rejects.toBeInstanceOf(QueueFullError);
    hold.release();
    expect((await held).status).toBe(200);
    expect(count('/shed')).toBe(0);

    // A failing request earns 1 more: 2 tokens in all, so 2 retries (6 if the shed requests had earned).
    const after = track(client.fetch('https://api.test/after'));
    await drive(after);
    expect(after.value?.status).toBe(503);
    expect(count('/after')).toBe(3);
    expect(shed.map((e) => `${e.endpoint} ${e.reason}`)).toEqual([
      'GET /drain retry-budget',
      'GET /shed full',
      'GET /shed full',
      'GET /shed full',
      'GET /after retry-budget',
    ]);
  });
});
