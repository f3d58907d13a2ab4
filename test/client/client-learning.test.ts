import { describe, expect, it } from 'vitest';
import { resolveClientOptions } from '../../src/client/client-options.js';
import { createClient } from '../../src/client/index.js';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import { tokenBucket } from '../../src/core/limits.js';

const RATE = 10;
const BURST = 60;
const MAX_IN_FLIGHT = 5;
const LATENCY_MS = 20;
const REQUESTS = 300;
const IDEAL_MS = ((REQUESTS - BURST) / RATE) * 1000; // 24 s

/**
 * The test's server: a token bucket (10/s, burst 60) reporting `RateLimit-Limit` / `RateLimit-Remaining` and
 * `X-Concurrency-Limit: 5`; 429 with `Retry-After` when empty, 409 beyond 5 in flight; answers after 20 ms.
 */
function fakeServer(clock: ManualClock) {
  let tokens = BURST;
  let lastMs = clock.now();
  let inFlight = 0;
  const counts = { 200: 0, 409: 0, 429: 0 };
  const fetch = async () => {
    const nowMs = clock.now();
    tokens = Math.min(BURST, tokens + ((nowMs - lastMs) * RATE) / 1000);
    lastMs = nowMs;
    inFlight++;
    let status: 200 | 409 | 429 = 200;
    const headers: Record<string, string> = { 'x-concurrency-limit': String(MAX_IN_FLIGHT) };
    if (inFlight > MAX_IN_FLIGHT) status = 409;
    else if (tokens < 1) {
      status = 429;
      headers['retry-after'] = String(Math.ceil((1 - tokens) / RATE));
    } else tokens -= 1;
    if (status !== 409) {
      headers['ratelimit-limit'] = String(BURST);
      headers['ratelimit-remaining'] = String(Math.floor(tokens));
    }
    counts[status]++;
    try {
      await clock.sleep(LATENCY_MS);
    } finally {
      inFlight--;
    }
    return new Response(status === 200 ? 'ok' : '', { status, headers });
  };
  return { counts, fetch: fetch as typeof globalThis.fetch };
}

/** Runs `REQUESTS` requests at once on the manual clock, 1 ms at a time; returns their statuses and the time taken. */
async function run(clock: ManualClock, client: ReturnType<typeof createClient>) {
  const statuses: number[] = [];
  let settled = 0;
  const all = Array.from({ length: REQUESTS }, (_, i) =>
    client
      .fetch(`https://api.test/items/${i}`)
      .then(
        (response) => statuses.push(response.status),
        () => statuses.push(-1),
      )
      .finally(() => settled++),
  );
  const startMs = clock.now();
  while (settled < REQUESTS && clock.now() - startMs < 5 * IDEAL_MS) {
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    if (settled < REQUESTS) clock.advance(1);
  }
  await Promise.all(all);
  return { statuses, elapsedMs: clock.now() - startMs };
}

describe('adaptive learning against a token bucket server', () => {
  it('learns the concurrency (5) and the refill: no 409, at most 3 429s, within 10 % of the ideal time', async () => {
    const clock = createManualClock(0);
    const server = fakeServer(clock);
    const client = createClient({
      fetch: server.fetch,
      classes: { api: { match: () => true, retryable: true } },
      clock: clock.now,
      sleep: clock.sleep,
    });
    const { statuses, elapsedMs } = await run(clock, client);
    const stats = client.stats().api!;
    // Printed so that a failing run reports what it observed.
    console.info('adaptive:', {
      ...server.counts,
      elapsedMs,
      idealMs: IDEAL_MS,
      refill: stats.learnedRefillPerSecond,
    });
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(stats.concurrency).toBe(MAX_IN_FLIGHT);
    expect(server.counts[409]).toBe(0);
    expect(server.counts[429]).toBeLessThanOrEqual(3);
    expect(elapsedMs).toBeLessThanOrEqual(IDEAL_MS * 1.1);
  });

  it('with the limits known (margin 0.98 / 0.9): no 429 or 409, within 5 % of the ideal time', async () => {
    const clock = createManualClock(0);
    const server = fakeServer(clock);
    const client = createClient({
      fetch: server.fetch,
      classes: {
        api: {
          match: () => true,
          retryable: true,
          limits: [tokenBucket({ rate: RATE, per: '1s', burst: BURST })],
          concurrency: MAX_IN_FLIGHT,
        },
      },
      margin: { rate: 0.98, burst: 0.9 },
      clock: clock.now,
      sleep: clock.sleep,
    });
    const { statuses, elapsedMs } = await run(clock, client);
    console.info('known limits:', { ...server.counts, elapsedMs, idealMs: IDEAL_MS });
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(server.counts[429]).toBe(0);
    expect(server.counts[409]).toBe(0);
    expect(elapsedMs).toBeLessThanOrEqual(IDEAL_MS * 1.05);
    expect(client.stats().api?.limits[0]).toMatch(/@0\.98\/0\.9$/);
  });
});

describe('margin option', () => {
  it('accepts a number (both shares) or { rate, burst } (burst defaults to rate, rate to 0.9)', () => {
    expect(resolveClientOptions({}).margin).toEqual({ rate: 0.9, burst: 0.9 });
    expect(resolveClientOptions({ margin: 0.8 }).margin).toEqual({ rate: 0.8, burst: 0.8 });
    expect(resolveClientOptions({ margin: { rate: 0.98, burst: 0.9 } }).margin).toEqual({
      rate: 0.98,
      burst: 0.9,
    });
    expect(resolveClientOptions({ margin: { rate: 0.7 } }).margin).toEqual({ rate: 0.7, burst: 0.7 });
    expect(resolveClientOptions({ margin: { burst: 0.5 } }).margin).toEqual({ rate: 0.9, burst: 0.5 });
    expect(resolveClientOptions({ margin: 1 }).margin).toEqual({ rate: 1, burst: 1 });
  });

  it('rejects bad values naming the path', () => {
    expect(() => createClient({ margin: 0 })).toThrow(/`margin`/);
    expect(() => createClient({ margin: Number.NaN })).toThrow(/`margin`/);
    expect(() => createClient({ margin: { burst: 0 } })).toThrow(/`margin\.burst`/);
    expect(() => createClient({ margin: { burst: 1.1 } })).toThrow(/`margin\.burst`/);
    expect(() => createClient({ margin: { rate: -0.5 } })).toThrow(/`margin\.rate`/);
    expect(() => createClient({ margin: { rate: '0.9' as unknown as number } })).toThrow(/`margin\.rate`/);
    expect(() => createClient({ margin: { speed: 0.9 } as never })).toThrow(/speed/);
  });
});
