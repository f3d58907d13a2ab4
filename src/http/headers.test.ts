import fc from 'fast-check';
// An independent RFC 8941/9651 implementation (not the one sluice serialises with) reads every field back.
import { decodeDict, decodeList } from 'structured-field-values';
import { describe, expect, it } from 'vitest';
import { type QuotaReport, rateLimitHeaders } from './headers.js';

const NOW = 1_651_174_200_000; // 2022-04-28T19:30:00Z
const perMinute: QuotaReport = {
  name: 'per-minute',
  quota: 100,
  windowMs: 60_000,
  remaining: 50,
  resetAfterMs: 30_000,
};
const perSecond: QuotaReport = {
  name: 'per-second',
  quota: 5,
  windowMs: 1000,
  remaining: 1,
  resetAfterMs: 800,
};

const field = (fields: [string, string][], name: string) => fields.find(([n]) => n === name)?.[1];

describe('rate limit header fields', () => {
  it('ietf: one list member per applied policy, read back by an independent parser', () => {
    const fields = rateLimitHeaders({ nowMs: NOW, quotas: [perMinute, perSecond] });
    expect(fields).toEqual([
      ['RateLimit-Policy', '"per-minute";q=100;w=60, "per-second";q=5;w=1'],
      ['RateLimit', '"per-minute";r=50;t=30, "per-second";r=1;t=1'],
    ]);
    expect(JSON.parse(JSON.stringify(decodeList(field(fields, 'RateLimit')!)))).toEqual([
      { value: 'per-minute', params: { r: 50, t: 30 } },
      { value: 'per-second', params: { r: 1, t: 1 } },
    ]);
  });

  it('draft-7, draft-6 and legacy report the binding policy (least remaining)', () => {
    const fields = rateLimitHeaders(
      { nowMs: NOW, quotas: [perMinute, perSecond] },
      { profiles: ['draft-7', 'draft-6', 'legacy'] },
    );
    expect(fields).toEqual([
      ['RateLimit', 'limit=5, remaining=1, reset=1'],
      ['RateLimit-Policy', '100;w=60, 5;w=1'],
      ['RateLimit-Limit', '5'],
      ['RateLimit-Remaining', '1'],
      ['RateLimit-Reset', '1'],
      ['X-RateLimit-Limit', '5'],
      ['X-RateLimit-Remaining', '1'],
      ['X-RateLimit-Reset', String(Math.ceil((NOW + 800) / 1000))],
    ]);
    const dict = decodeDict(field(fields, 'RateLimit')!) as unknown as Record<string, { value: unknown }>;
    expect([dict.limit?.value, dict.remaining?.value, dict.reset?.value]).toEqual([5, 1, 1]);
  });

  it('profiles sharing a field name: the first listed keeps it, so no field has two syntaxes', () => {
    const fields = rateLimitHeaders(
      { nowMs: NOW, quotas: [perMinute] },
      { profiles: ['ietf', 'draft-6', 'draft-7'] },
    );
    const names = fields.map(([name]) => name.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
    expect(field(fields, 'RateLimit-Policy')).toMatch(/^"/); // ietf's, a list of named members
    expect(field(fields, 'RateLimit')).toMatch(/^"/);
    expect(field(fields, 'RateLimit-Limit')).toBe('100');
  });

  it("reproduces the Platform API's fields byte for byte (its own spelling, the reset as a Unix time)", () => {
    const fields = rateLimitHeaders(
      {
        nowMs: NOW,
        quotas: [{ name: 'endpoint', quota: 5, windowMs: 1000, remaining: 1, resetAfterMs: 23_000 }],
      },
      {
        profiles: ['legacy'],
        legacyNames: { limit: 'X-RateLimit-Limit', remaining: 'X-Ratelimit-Remaining', reset: false },
        retryAfterTimestamp: 'X-Ratelimit-Retry-After',
      },
    );
    expect(fields).toEqual([
      ['X-RateLimit-Limit', '5'],
      ['X-Ratelimit-Remaining', '1'],
      ['X-Ratelimit-Retry-After', '1651174223'],
    ]);
  });

  it('adds Retry-After (seconds) on a rejection with a finite wait only, and concurrency fields when given', () => {
    const denied = rateLimitHeaders(
      {
        nowMs: NOW,
        quotas: [{ ...perSecond, remaining: 0 }],
        retryAfterMs: 1200,
        concurrency: { limit: 5, current: 5 },
      },
      { profiles: ['draft-6'] },
    );
    expect(field(denied, 'Retry-After')).toBe('2');
    expect(field(denied, 'X-Concurrency-Limit')).toBe('5');
    expect(field(denied, 'X-Concurrency-Current')).toBe('5');
    const never = rateLimitHeaders({
      nowMs: NOW,
      quotas: [perSecond],
      retryAfterMs: Number.POSITIVE_INFINITY,
    });
    expect(field(never, 'Retry-After')).toBeUndefined();
    expect(field(rateLimitHeaders({ nowMs: NOW, quotas: [perSecond] }), 'Retry-After')).toBeUndefined();
    expect(field(rateLimitHeaders({ nowMs: NOW, quotas: [perSecond], retryAfterMs: 1 }), 'Retry-After')).toBe(
      '1',
    );
  });

  it('quotes names safely: escapes quotes and backslashes, replaces what a header cannot carry', () => {
    const fields = rateLimitHeaders({ nowMs: NOW, quotas: [{ ...perSecond, name: 'a "b" \\ c é' }] });
    expect(field(fields, 'RateLimit-Policy')).toBe('"a \\"b\\" \\\\ c ?";q=5;w=1');
    expect(decodeList(field(fields, 'RateLimit-Policy')!)[0]?.value).toBe('a "b" \\ c ?');
  });

  it('property: any report gives fields an independent parser reads back to the same whole numbers', () => {
    const quota = fc.record({
      name: fc.string(),
      quota: fc.oneof(fc.nat(), fc.double({ min: 0, max: 1e18, noNaN: true })),
      windowMs: fc.oneof(fc.nat(), fc.double({ noNaN: false })),
      remaining: fc.oneof(fc.nat(), fc.double({ noNaN: false })),
      resetAfterMs: fc.oneof(fc.nat(), fc.double({ noNaN: false })),
    });
    fc.assert(
      fc.property(fc.array(quota, { minLength: 1, maxLength: 4 }), (quotas) => {
        const fields = rateLimitHeaders(
          { nowMs: NOW, quotas, retryAfterMs: 5000 },
          { profiles: ['ietf', 'draft-7', 'draft-6', 'legacy'] },
        );
        const policy = decodeList(field(fields, 'RateLimit-Policy')!);
        const current = decodeList(fields.filter(([n]) => n === 'RateLimit')[0]![1]);
        expect(policy).toHaveLength(quotas.length);
        for (const [i, member] of current.entries()) {
          const { r, t } = member.params as { r: number; t: number };
          expect(Number.isInteger(r) && r >= 0 && Number.isInteger(t) && t >= 0).toBe(true);
          const expected = Number.isFinite(quotas[i]!.remaining)
            ? Math.max(0, Math.floor(quotas[i]!.remaining))
            : r;
          expect(r).toBe(Math.min(expected, 999_999_999_999_999));
        }
        for (const [name, value] of fields) expect(value, name).toMatch(/^[\x20-\x7e]*$/);
      }),
      { numRuns: 300 },
    );
  });
});
