import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HeaderProfile, type QuotaReport, rateLimitHeaders } from '../http/headers.js';
import {
  bindingQuota,
  MAX_PERIOD_MS,
  MAX_RETRY_AFTER_MS,
  parseHttpDate,
  parseIsoDate,
  parseRetryAfter,
  readHints,
} from './hints.js';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0); // Sun, 22 Nov 2026 12:00:00 GMT
const NOW_S = NOW / 1000;

describe('parseRetryAfter', () => {
  it('reads delta seconds', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter('1.5', NOW)).toBe(1500);
  });

  it('reads an HTTP-date in all three forms RFC 9110 allows', () => {
    expect(parseRetryAfter('Sun, 22 Nov 2026 12:01:30 GMT', NOW)).toBe(90_000); // IMF-fixdate
    expect(parseRetryAfter('Sunday, 22-Nov-26 12:01:30 GMT', NOW)).toBe(90_000); // RFC 850
    expect(parseRetryAfter('Sun Nov 22 12:01:30 2026', NOW)).toBe(90_000); // asctime
    expect(parseRetryAfter('Mon Nov 23  12:00:00 2026', NOW)).toBeUndefined(); // two spaces before the time
  });

  it('parses the RFC 9110 example dates to the same instant, including a one-digit asctime day', () => {
    const expected = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(expected);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(expected); // 2094 is > 50 years ahead
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994', NOW)).toBe(expected);
    expect(parseHttpDate('Tuesday, 06-Nov-35 08:49:37 GMT', NOW)).toBe(Date.UTC(2035, 10, 6, 8, 49, 37));
  });

  it('a date in the past is no wait; a wait above 24 h is clamped', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('864000', NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('9'.repeat(400), NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Mon, 22 Nov 2027 12:00:00 GMT', NOW)).toBe(MAX_RETRY_AFTER_MS);
  });

  it('malformed values are no hint', () => {
    for (const bad of ['', 'soon', '-5', '1e3', 'NaN', 'Infinity', '0x10', '12 s', '1.', '.5']) {
      expect(parseRetryAfter(bad, NOW), bad).toBeUndefined();
    }
    for (const bad of [
      'Sun, 31 Feb 2026 12:00:00 GMT', // no 31 February
      'Sun, 22 Nov 2026 24:00:00 GMT',
      'Sun, 22 Nov 2026 12:60:00 GMT',
      'Sun, 22 Foo 2026 12:00:00 GMT',
      'Sun, 22 Nov 2026 12:00:00 CET',
      '2026-11-22T12:01:30Z', // ISO 8601 is not an HTTP-date
    ]) {
      expect(parseRetryAfter(bad, NOW), bad).toBeUndefined();
    }
  });
});

describe('parseIsoDate', () => {
  it('reads a zone, fractions and offsets; without a zone, or out of range, no date', () => {
    expect(parseIsoDate('2021-02-15T17:13:32.363Z')).toBe(Date.UTC(2021, 1, 15, 17, 13, 32, 363));
    expect(parseIsoDate('2021-02-15T18:13:32+01:00')).toBe(Date.UTC(2021, 1, 15, 17, 13, 32));
    expect(parseIsoDate('2021-02-15T17:13:32.3639999Z')).toBe(Date.UTC(2021, 1, 15, 17, 13, 32, 363));
    expect(parseIsoDate('2021-02-15T17:13:32')).toBeUndefined();
    expect(parseIsoDate('2021-02-30T17:13:32Z')).toBeUndefined();
    expect(parseIsoDate('2021-02-15T17:13:32+24:00')).toBeUndefined();
  });
});

describe('readHints: each format', () => {
  it('IETF draft-10: multi-policy lists joined by name, whatever their order', () => {
    const hints = readHints(
      {
        'RateLimit-Policy': '"burst";q=100;w=60, "daily";q=1000;w=86400, "announced";q=5;w=1',
        RateLimit: '"daily";r=900;t=3600, "burst";r=50;t=30',
      },
      NOW,
    );
    expect(hints.quotas).toEqual([
      {
        name: 'daily',
        limit: 1000,
        windowMs: 86_400_000,
        remaining: 900,
        resetAfterMs: 3_600_000,
        source: 'ietf',
      },
      { name: 'burst', limit: 100, windowMs: 60_000, remaining: 50, resetAfterMs: 30_000, source: 'ietf' },
      { name: 'announced', limit: 5, windowMs: 1000, source: 'ietf' },
    ]);
    expect(hints.binding).toEqual(hints.quotas[1]);
    expect(hints.retryAfterMs).toBeUndefined();
  });

  it('IETF: token names, a RateLimit member without a policy, a member of the wrong type skipped', () => {
    const hints = readHints({ ratelimit: 'api;r=0;t=5, 42;r=1, "other";r=7' }, NOW);
    expect(hints.quotas).toEqual([
      { name: 'api', remaining: 0, resetAfterMs: 5000, source: 'ietf' },
      { name: 'other', remaining: 7, source: 'ietf' },
    ]);
    expect(hints.binding?.name).toBe('api');
  });

  it('draft-7: a dictionary, its window from the draft RateLimit-Policy', () => {
    const hints = readHints(
      { RateLimit: 'limit=5, remaining=1, reset=1', 'RateLimit-Policy': '100;w=60, 5;w=1' },
      NOW,
    );
    expect(hints.quotas).toEqual([
      { limit: 5, remaining: 1, resetAfterMs: 1000, windowMs: 1000, source: 'draft-7' },
      { limit: 100, windowMs: 60_000, source: 'draft-7' },
    ]);
    expect(hints.binding).toEqual(hints.quotas[0]);
  });

  it('draft-6: RateLimit-Limit/-Remaining/-Reset, reset as a delta or a Unix time', () => {
    const delta = readHints(
      { 'RateLimit-Limit': '100', 'RateLimit-Remaining': '7', 'RateLimit-Reset': '42' },
      NOW,
    );
    expect(delta.quotas).toEqual([{ limit: 100, remaining: 7, resetAfterMs: 42_000, source: 'draft-6' }]);
    const unix = readHints({ 'ratelimit-reset': String(NOW_S + 42), 'ratelimit-remaining': '7' }, NOW);
    expect(unix.quotas).toEqual([{ remaining: 7, resetAfterMs: 42_000, source: 'draft-6' }]);
    const early = readHints({ 'RateLimit-Limit': '10, 10;w=1, 50;w=60' }, NOW);
    expect(early.quotas).toEqual([{ limit: 10, windowMs: 1000, source: 'draft-6' }]);
  });

  it('X-RateLimit-*: reset detected as Unix seconds (≥ 1e9) or delta seconds', () => {
    const unix = readHints(
      { 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(NOW_S + 15) },
      NOW,
    );
    expect(unix.quotas).toEqual([{ limit: 60, remaining: 0, resetAfterMs: 15_000, source: 'x-ratelimit' }]);
    const delta = readHints({ 'x-ratelimit-reset': '15', 'x-ratelimit-remaining': '3' }, NOW);
    expect(delta.quotas).toEqual([{ remaining: 3, resetAfterMs: 15_000, source: 'x-ratelimit' }]);
    expect(readHints({ 'x-ratelimit-reset': '999999999' }, NOW).quotas[0]?.resetAfterMs).toBe(MAX_PERIOD_MS);
    expect(readHints({ 'x-ratelimit-reset': String(NOW_S - 100) }, NOW).quotas[0]?.resetAfterMs).toBe(0);
    expect(
      readHints({ 'x-ratelimit-reset': '1651174223.5' }, 1_651_174_200_000).quotas[0]?.resetAfterMs,
    ).toBe(23_500);
  });

  it("the Platform API's fields: X-Ratelimit-Retry-After is a Unix time, also the quota's reset", () => {
    const hints = readHints(
      { 'X-RateLimit-Limit': '5', 'X-Ratelimit-Remaining': '1', 'X-Ratelimit-Retry-After': '1651174223' },
      1_651_174_200_000,
    );
    expect(hints).toEqual({
      retryAfterMs: 23_000,
      quotas: [{ limit: 5, remaining: 1, resetAfterMs: 23_000, source: 'x-ratelimit' }],
      binding: { limit: 5, remaining: 1, resetAfterMs: 23_000, source: 'x-ratelimit' },
    });
  });

  it("the Merchant API's fields: RateLimit-Limit, RateLimit-Remaining and Retry-After", () => {
    const headers = new Headers({ 'RateLimit-Limit': '10', 'RateLimit-Remaining': '0', 'Retry-After': '2' });
    expect(readHints(headers, NOW)).toEqual({
      retryAfterMs: 2000,
      quotas: [{ limit: 10, remaining: 0, source: 'draft-6' }],
      binding: { limit: 10, remaining: 0, source: 'draft-6' },
    });
  });

  it("the App-Platform body's nextValidRequestDate, parsed or as JSON text", () => {
    const body = {
      message: 'API calls quota exceeded! maximum admitted 1 per 1s.',
      referenceUrl: 'https://developer.example.com/rate-limits',
      nextValidRequestDate: '2021-02-15T17:13:32.363Z',
    };
    const now = Date.UTC(2021, 1, 15, 17, 13, 30);
    expect(readHints({}, now, body)).toEqual({ retryAfterMs: 2363, quotas: [] });
    expect(readHints({}, now, JSON.stringify(body)).retryAfterMs).toBe(2363);
    expect(readHints({}, now + 10_000, body).retryAfterMs).toBe(0);
    for (const bad of [
      { nextValidRequestDate: 5 },
      { nextValidRequestDate: 'tomorrow' },
      [body],
      'not json',
      42,
    ]) {
      expect(readHints({}, now, bad)).toEqual({ quotas: [] });
    }
  });
});

describe('readHints: combining', () => {
  it('header names are case-insensitive, in a record and in Headers; repeated fields are combined', () => {
    const record = readHints(
      { 'rETRY-aFTER': '3', 'RATELIMIT-POLICY': '"a";q=9;w=3', ratelimit: '"a";r=2' },
      NOW,
    );
    expect(record.retryAfterMs).toBe(3000);
    expect(record.quotas).toEqual([{ name: 'a', limit: 9, windowMs: 3000, remaining: 2, source: 'ietf' }]);
    const repeated = readHints(
      { RateLimit: ['"a";r=2', '"b";r=1'], 'X-RateLimit-Remaining': ['4', '3'] },
      NOW,
    );
    expect(repeated.quotas.map((q) => q.remaining)).toEqual([2, 1, 3]);
    const headers = new Headers([
      ['X-RateLimit-Remaining', '4'],
      ['x-ratelimit-remaining', '3'],
    ]);
    expect(readHints(headers, NOW).quotas).toEqual([{ remaining: 3, source: 'x-ratelimit' }]);
  });

  it('the longest finite wait wins across Retry-After, X-Ratelimit-Retry-After and the body', () => {
    const hints = readHints(
      {
        'Retry-After': ['5', 'Sun, 22 Nov 2026 12:00:20 GMT'],
        'X-Ratelimit-Retry-After': String(NOW_S + 12),
      },
      NOW,
      { nextValidRequestDate: '2026-11-22T12:00:08.000Z' },
    );
    expect(hints.retryAfterMs).toBe(20_000);
    expect(readHints({ 'Retry-After': 'soon', 'X-Ratelimit-Retry-After': '7' }, NOW).retryAfterMs).toBe(7000);
  });

  it('binding: ietf > draft-7 > draft-6 > x-ratelimit, then least remaining, then longest reset', () => {
    const hints = readHints(
      {
        RateLimit: '"a";r=10;t=5, "b";r=10;t=50, "c";r=20;t=1',
        'RateLimit-Remaining': '0',
        'X-RateLimit-Remaining': '0',
      },
      NOW,
    );
    expect(hints.binding).toEqual({ name: 'b', remaining: 10, resetAfterMs: 50_000, source: 'ietf' });
    expect(
      bindingQuota([
        { remaining: 3, source: 'x-ratelimit' },
        { remaining: 9, source: 'draft-6' },
      ]),
    ).toEqual({
      remaining: 9,
      source: 'draft-6',
    });
    expect(
      bindingQuota([
        { limit: 5, source: 'ietf' },
        { remaining: 9, source: 'x-ratelimit' },
      ])?.source,
    ).toBe('x-ratelimit');
    expect(bindingQuota([])).toBeUndefined();
  });

  it('malformed fields are ignored, well-formed ones beside them still read', () => {
    const hints = readHints(
      {
        RateLimit: '"a";r=5;t=', // syntax error: the whole field is ignored
        'RateLimit-Policy': '"b";q=-1;w=abc, "c";q=1.5;w=-2',
        'RateLimit-Limit': 'NaN',
        'RateLimit-Remaining': '-3',
        'RateLimit-Reset': 'Infinity',
        'X-RateLimit-Limit': '99999999999999999999',
        'X-RateLimit-Remaining': '1e3',
        'X-RateLimit-Reset': '12',
        'Retry-After': '-1',
        'X-Ratelimit-Retry-After': 'yesterday',
      },
      NOW,
      { nextValidRequestDate: '2026-02-30T00:00:00Z' },
    );
    expect(hints).toEqual({
      quotas: [{ resetAfterMs: 12_000, source: 'x-ratelimit' }],
      binding: { resetAfterMs: 12_000, source: 'x-ratelimit' },
    });
    expect(readHints({ RateLimit: '"a";r=1;t=9999999999999' }, NOW).quotas[0]?.resetAfterMs).toBe(
      MAX_PERIOD_MS,
    );
  });
});

/** The numbers the server's fields carry: whole seconds (rounded up) and whole units. */
const seconds = (ms: number): number => Math.ceil(ms / 1000) * 1000;
const reportQuota = fc.record({
  name: fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/),
  quota: fc.integer({ min: 1, max: 1_000_000 }),
  windowMs: fc.integer({ min: 1000, max: 86_400_000 }),
  remaining: fc.integer({ min: 0, max: 1_000_000 }),
  resetAfterMs: fc.integer({ min: 0, max: 86_400_000 }),
});
const report = fc.uniqueArray(reportQuota, { minLength: 1, maxLength: 4, selector: (q) => q.name });

const serverFields = (quotas: QuotaReport[], profile: HeaderProfile, nowMs = NOW): Record<string, string> =>
  Object.fromEntries(rateLimitHeaders({ nowMs, quotas }, { profiles: [profile] }));
/** The quota the server's draft and legacy profiles report: least remaining, then longest reset. */
const serverBinding = (quotas: QuotaReport[]): QuotaReport =>
  quotas.reduce((a, b) =>
    b.remaining < a.remaining || (b.remaining === a.remaining && b.resetAfterMs > a.resetAfterMs) ? b : a,
  );

describe('round trip with the server side (rateLimitHeaders)', () => {
  it('ietf: every policy read back by name to the same numbers', () => {
    fc.assert(
      fc.property(report, (quotas) => {
        const hints = readHints(serverFields(quotas, 'ietf'), NOW);
        expect(hints.quotas).toEqual(
          quotas.map((q) => ({
            name: q.name,
            limit: q.quota,
            windowMs: seconds(q.windowMs),
            remaining: q.remaining,
            resetAfterMs: seconds(q.resetAfterMs),
            source: 'ietf',
          })),
        );
        expect(hints.binding?.remaining).toBe(Math.min(...quotas.map((q) => q.remaining)));
      }),
      { numRuns: 200 },
    );
  });

  it('draft-7, draft-6 and legacy: the binding quota read back to the same numbers', () => {
    fc.assert(
      fc.property(report, fc.integer({ min: 0, max: 999 }), (quotas, extraMs) => {
        const nowMs = NOW + extraMs; // legacy resets are Unix seconds: exact when nowMs is not a whole second
        const bound = serverBinding(quotas);
        for (const profile of ['draft-7', 'draft-6'] as const) {
          const hints = readHints(serverFields(quotas, profile, nowMs), nowMs);
          expect(hints.binding).toEqual({
            limit: bound.quota,
            remaining: bound.remaining,
            resetAfterMs: seconds(bound.resetAfterMs),
            windowMs: seconds(quotas.find((q) => q.quota === bound.quota)!.windowMs),
            source: profile,
          });
          expect(hints.quotas).toHaveLength(quotas.length);
        }
        const legacy = readHints(serverFields(quotas, 'legacy', nowMs), nowMs);
        expect(legacy.quotas).toEqual([
          {
            limit: bound.quota,
            remaining: bound.remaining,
            resetAfterMs: seconds(nowMs + bound.resetAfterMs) - nowMs,
            source: 'x-ratelimit',
          },
        ]);
      }),
      { numRuns: 200 },
    );
  });

  it('Retry-After and X-Ratelimit-Retry-After on a rejection read back to the wait (whole seconds)', () => {
    fc.assert(
      fc.property(report, fc.integer({ min: 1, max: 3_600_000 }), (quotas, retryAfterMs) => {
        const fields = rateLimitHeaders(
          { nowMs: NOW, quotas, retryAfterMs },
          { profiles: ['ietf'], retryAfterTimestamp: 'X-Ratelimit-Retry-After' },
        );
        expect(readHints(Object.fromEntries(fields), NOW).retryAfterMs).toBe(seconds(retryAfterMs));
        const onlyTimestamp = fields.filter(([n]) => n !== 'Retry-After');
        expect(readHints(Object.fromEntries(onlyTimestamp), NOW).retryAfterMs).toBe(seconds(retryAfterMs));
      }),
      { numRuns: 100 },
    );
  });
});
