import { describe, expect, it } from 'vitest';
import { createManualClock } from '../core/clock.js';
import { createTrafficCounters, endpointOf, STATS_WINDOWS } from './client-stats.js';

const label = (method: string, url: string) => endpointOf(method, new URL(url));

describe('endpointOf', () => {
  it('keeps the method and the path, without the query', () => {
    expect(label('GET', 'https://api.test/v1/orders?page=2&id=5')).toBe('GET /v1/orders');
    expect(label('POST', 'https://api.test/')).toBe('POST /');
  });

  it('folds numbers, UUIDs, long hex strings and long tokens with digits to :id', () => {
    expect(label('GET', 'https://api.test/v1/orders/8812/lines/3')).toBe('GET /v1/orders/:id/lines/:id');
    expect(label('GET', 'https://api.test/users/123e4567-E89B-12d3-a456-426614174000')).toBe(
      'GET /users/:id',
    );
    expect(label('GET', 'https://api.test/blobs/0123456789abcdef')).toBe('GET /blobs/:id'); // 16 hex
    expect(label('GET', 'https://api.test/blobs/DEADBEEFDEADBEEFDEAD')).toBe('GET /blobs/:id');
    expect(label('GET', 'https://api.test/sessions/sess_1A2b3C4d5E6f7G8h9I0j')).toBe('GET /sessions/:id');
  });

  it('keeps words, short hex, short tokens and long tokens without digits', () => {
    expect(label('GET', 'https://api.test/v2/accounts/me/settings')).toBe('GET /v2/accounts/me/settings');
    expect(label('GET', 'https://api.test/blobs/0123456789abcde')).toBe('GET /blobs/0123456789abcde'); // 15 hex
    expect(label('GET', 'https://api.test/x/abc123')).toBe('GET /x/abc123');
    expect(label('GET', 'https://api.test/x/z1234567890123456789')).toBe('GET /x/:id'); // 20, with digits
    expect(label('GET', 'https://api.test/x/z123456789012345678')).toBe('GET /x/z123456789012345678'); // 19
    expect(label('GET', 'https://api.test/reports/quarterly-revenue-summary')).toBe(
      'GET /reports/quarterly-revenue-summary',
    );
    expect(label('GET', 'https://api.test/v1/')).toBe('GET /v1/');
  });
});

describe('createTrafficCounters', () => {
  it('counts requests, responses by status, retries, throttles (429 and 409) and errors, in all and per endpoint', () => {
    const clock = createManualClock(0);
    const counters = createTrafficCounters(clock.now, 1_000);
    counters.sent('GET /a');
    counters.response('GET /a', 429);
    counters.retried('GET /a');
    counters.sent('GET /a');
    counters.response('GET /a', 200);
    counters.sent('POST /b');
    counters.response('POST /b', 409);
    counters.sent('POST /b');
    counters.response('POST /b', 503);
    counters.sent('POST /b');
    counters.error('POST /b');
    expect(counters.total()).toEqual({
      requests: 5,
      responses: { 200: 1, 409: 1, 429: 1, 503: 1 },
      retries: 1,
      throttles: 2,
      errors: 1,
    });
    expect(counters.endpoints()).toEqual({
      'GET /a': { requests: 2, responses: { 200: 1, 429: 1 }, retries: 1, throttles: 1, errors: 0 },
      'POST /b': { requests: 3, responses: { 409: 1, 503: 1 }, retries: 0, throttles: 1, errors: 1 },
    });
  });

  it('returns copies: later counts do not change an earlier snapshot', () => {
    const counters = createTrafficCounters(() => 0, 1_000);
    counters.response('GET /a', 200);
    const before = counters.total();
    const endpoints = counters.endpoints();
    const windows = counters.windows();
    counters.response('GET /a', 200);
    expect(before.responses).toEqual({ 200: 1 });
    expect(endpoints['GET /a']?.responses).toEqual({ 200: 1 });
    expect(windows[0]?.responses).toEqual({ 200: 1 });
    expect(counters.total().responses).toEqual({ 200: 2 });
  });

  it('rolls windows on the clock, aligned to multiples of the window, skipping idle ones', () => {
    const clock = createManualClock(10_500);
    const counters = createTrafficCounters(clock.now, 1_000);
    expect(counters.windows()).toEqual([]);
    counters.sent('GET /a');
    clock.advance(499); // 10 999: same window
    counters.response('GET /a', 200);
    clock.advance(1); // 11 000: a new one
    counters.sent('GET /a');
    counters.response('GET /a', 429);
    clock.advance(5_000); // 16 000: the windows between saw nothing
    counters.error('GET /a');
    expect(counters.windows()).toEqual([
      { startMs: 10_000, requests: 1, responses: { 200: 1 }, retries: 0, throttles: 0, errors: 0 },
      { startMs: 11_000, requests: 1, responses: { 429: 1 }, retries: 0, throttles: 1, errors: 0 },
      { startMs: 16_000, requests: 0, responses: {}, retries: 0, throttles: 0, errors: 1 },
    ]);
  });

  it(`keeps at most STATS_WINDOWS (${STATS_WINDOWS}) windows, oldest first; totals keep everything`, () => {
    const clock = createManualClock(0);
    const counters = createTrafficCounters(clock.now, 100);
    for (let i = 0; i < STATS_WINDOWS + 3; i++) {
      for (let n = 0; n <= i; n++) counters.sent('GET /a');
      clock.advance(100);
    }
    const windows = counters.windows();
    expect(windows).toHaveLength(STATS_WINDOWS);
    expect(windows.map((w) => w.startMs)).toEqual(
      Array.from({ length: STATS_WINDOWS }, (_, i) => (i + 3) * 100),
    );
    expect(windows.map((w) => w.requests)).toEqual(Array.from({ length: STATS_WINDOWS }, (_, i) => i + 4));
    expect(counters.total().requests).toBe(((STATS_WINDOWS + 3) * (STATS_WINDOWS + 4)) / 2);
  });
});
