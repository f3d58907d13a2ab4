import { describe, expect, it } from 'vitest';
import {
  learnedLimit,
  onConflict,
  onSuccess,
  RECOVER_EVERY,
  scaleLimit,
} from '../../src/client/client-adapt.js';
import { createClient } from '../../src/client/index.js';
import { createManualClock } from '../../src/core/clock.js';
import { fixedWindow, slidingWindow, tokenBucket } from '../../src/core/limits.js';

describe('adaptation rules', () => {
  it('scales configured limits to the margin (at least 1)', () => {
    expect(scaleLimit(fixedWindow({ limit: 10, window: '1s' }), 0.9)).toMatchObject({
      kind: 'fixedWindow',
      limit: 9,
      windowMs: 1000,
    });
    expect(scaleLimit(slidingWindow({ limit: 1, window: '1m' }), 0.5)).toMatchObject({ limit: 1 });
    expect(scaleLimit(tokenBucket({ rate: 10, burst: 60 }), 0.9)).toMatchObject({
      rate: 9,
      burst: 54,
      perMs: 1000,
    });
    const same = tokenBucket({ rate: 1 });
    expect(scaleLimit(same, 1)).toBe(same);
  });

  it('learns a sliding window at the margin from limit and window, nothing without them', () => {
    expect(learnedLimit({ source: 'ietf', name: 'p', limit: 20, windowMs: 1000 }, 0.9)).toMatchObject({
      kind: 'slidingWindow',
      limit: 18,
      windowMs: 1000,
      name: 'learned:p',
    });
    expect(learnedLimit({ source: 'x-ratelimit', remaining: 3, resetAfterMs: 500 }, 0.9)).toBeUndefined();
    expect(learnedLimit(undefined, 0.9)).toBeUndefined();
  });

  it('AIMD: halves to at least 1, from the in-flight count when unbounded; +1 per RECOVER_EVERY successes', () => {
    expect(onConflict({ limit: 8, successes: 5 }, 3)).toEqual({ limit: 4, successes: 0 });
    expect(onConflict({ limit: 1, successes: 0 }, 1)).toEqual({ limit: 1, successes: 0 });
    expect(onConflict({ limit: Number.POSITIVE_INFINITY, successes: 0 }, 6)).toEqual({
      limit: 3,
      successes: 0,
    });
    let state = { limit: 2, successes: 0 };
    for (let i = 0; i < RECOVER_EVERY; i++) state = onSuccess(state, 3);
    expect(state).toEqual({ limit: 3, successes: 0 });
    expect(onSuccess(state, 3)).toBe(state);
  });

  it('a client probes with one request, then paces by the learned limit and closes the gate at remaining 0', async () => {
    const clock = createManualClock(0);
    let remaining = 5;
    const sent: number[] = [];
    const fetch = (async () => {
      sent.push(clock.now());
      remaining = Math.max(0, remaining - 1);
      return new Response('', {
        headers: { 'ratelimit-policy': '"p";q=10;w=1', ratelimit: `"p";r=${remaining};t=1` },
      });
    }) as typeof globalThis.fetch;
    const client = createClient({ fetch, clock: clock.now, sleep: clock.sleep });
    const gates: number[] = [];
    client.on('gateClosed', (e) => gates.push(e.untilMs));
    const all = Promise.all(Array.from({ length: 12 }, () => client.fetch('https://api.test/')));
    const flush = async () => {
      for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    await flush();
    expect(client.stats().query!.limits).toEqual(['learned:p']);
    expect(gates).toEqual([1000]);
    const firstWindow = sent.length;
    expect(firstWindow).toBe(10); // the probe, then 9 at once: the gate closes once they report remaining 0
    remaining = 10;
    clock.advance(1000);
    await flush();
    clock.advance(1000);
    await flush();
    await all;
    expect(sent.filter((t) => t < 1000)).toHaveLength(firstWindow);
    expect(sent).toHaveLength(12);
  });
});

describe('learned limits and configured ones', () => {
  const answer = () =>
    new Response('{}', {
      status: 200,
      headers: { 'RateLimit-Policy': '"p";q=50;w=10', RateLimit: '"p";r=40;t=7' },
    });
  const clientWith = (limits: Parameters<typeof fixedWindow>[0][]) => {
    const clock = createManualClock(0);
    return createClient({
      fetch: (async () => answer()) as typeof globalThis.fetch,
      classes: { api: { match: () => true, limits: limits.map((l) => fixedWindow(l)) } },
      margin: 0.96,
      clock: clock.now,
      sleep: clock.sleep,
    });
  };

  it('a learned window no tighter than a configured window of the same length is not added', async () => {
    const client = clientWith([{ limit: 50, window: '10s', name: 'documented' }]);
    await client.fetch('https://api.test/');
    expect(client.stats().api!.limits).toEqual(['documented@0.96']);
  });

  it('one of another length, or tighter, is', async () => {
    const other = clientWith([{ limit: 10, window: '1s', name: 'per-second' }]);
    await other.fetch('https://api.test/');
    expect(other.stats().api!.limits).toEqual(['per-second@0.96', 'learned:p']);
    const looser = clientWith([{ limit: 100, window: '10s', name: 'wrong' }]);
    await looser.fetch('https://api.test/');
    expect(looser.stats().api!.limits).toEqual(['wrong@0.96', 'learned:p']);
  });
});
