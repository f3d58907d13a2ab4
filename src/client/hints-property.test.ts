import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, parseRetryAfter, readHints, type ServerHints } from './hints.js';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0); // Sun, 22 Nov 2026 12:00:00 GMT

const FIELDS = [
  'Retry-After',
  'X-Ratelimit-Retry-After',
  'RateLimit',
  'RateLimit-Policy',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
];

function expectSane(hints: ServerHints): void {
  const numbers = [
    hints.retryAfterMs,
    ...hints.quotas.flatMap((q) => [q.limit, q.remaining, q.resetAfterMs, q.windowMs]),
  ];
  for (const n of numbers) {
    if (n !== undefined) expect(Number.isFinite(n) && n >= 0, String(n)).toBe(true);
  }
  if (hints.retryAfterMs !== undefined) expect(hints.retryAfterMs).toBeLessThanOrEqual(MAX_RETRY_AFTER_MS);
  if (hints.binding !== undefined) expect(hints.quotas).toContain(hints.binding);
}

describe('property: arbitrary values never throw, never give a negative or non-finite number', () => {
  // Plain strings, and strings close to valid ones (numbers, dates, structured fields) to reach the parsers.
  const value = fc.oneof(
    fc.string(),
    fc.stringMatching(/^-?\d{0,20}(\.\d{0,5})?(e\d{1,3})?$/),
    fc.stringMatching(/^(Sun|Sunday), \d{1,2}[ -](Nov|Feb)[ -]\d{2,4} \d{2}:\d{2}:\d{2} GMT$/),
    fc.stringMatching(
      /^("[a-z]{0,3}"|[a-z]{1,3}|-?\d{1,17}(\.\d{1,4})?)(;[qwrt]=(-?\d{0,17}(\.\d{0,4})?|"x"|\?1))*(, .*)?$/,
    ),
    fc.stringMatching(/^(limit|remaining|reset)=-?\d{0,17}(, (limit|remaining|reset)=-?\d{0,17})*$/),
  );
  const headers = fc.dictionary(
    fc.constantFrom(...FIELDS, ...FIELDS.map((f) => f.toLowerCase())),
    fc.oneof(value, fc.array(value, { maxLength: 3 })),
  );
  const body = fc.oneof(
    fc.anything(),
    fc.string(),
    fc.record({
      nextValidRequestDate: fc.oneof(
        fc.string(),
        fc.date({ noInvalidDate: false }).map(String),
        fc.anything(),
      ),
    }),
    fc.date({ noInvalidDate: true }).map((d) => ({ nextValidRequestDate: d.toISOString() })),
  );
  const nowMs = fc.oneof(fc.constant(NOW), fc.integer({ min: 0, max: 4_102_444_800_000 }));

  it('with a record of fields', () => {
    fc.assert(
      fc.property(headers, nowMs, body, (fields, now, b) => expectSane(readHints(fields, now, b))),
      { numRuns: 2000 },
    );
  });

  it('parseRetryAfter on any string', () => {
    fc.assert(
      fc.property(value, nowMs, (v, now) => {
        const ms = parseRetryAfter(v, now);
        if (ms !== undefined) expect(ms >= 0 && ms <= MAX_RETRY_AFTER_MS).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('readHints: concurrency fields', () => {
  it('reads X-Concurrency-Limit and X-Concurrency-Current (the Merchant API)', () => {
    const hints = readHints(
      new Headers({
        'RateLimit-Limit': '60',
        'RateLimit-Remaining': '12',
        'X-Concurrency-Limit': '5',
        'X-Concurrency-Current': '0',
      }),
      NOW,
    );
    expect(hints.concurrency).toEqual({ limit: 5, current: 0 });
    expect(hints.binding).toMatchObject({ limit: 60, remaining: 12 });
  });

  it('ignores malformed values, a zero limit, and lists', () => {
    for (const value of ['', 'five', '-1', '2.5', '0', '5, 6', '1e3']) {
      expect(readHints({ 'x-concurrency-limit': value }, NOW).concurrency).toBeUndefined();
    }
    expect(readHints({ 'x-concurrency-current': ' 3 ' }, NOW).concurrency).toEqual({ current: 3 });
  });
});
