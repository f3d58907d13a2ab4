import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { createRejection, type RejectionContext, type ViolatedPolicy } from './rejection.js';

const NOW = 1_651_174_200_000; // 2022-04-28T19:30:00.000Z
const perMinute: ViolatedPolicy = {
  name: 'per-minute',
  limit: 100,
  remaining: 0,
  resetAfterMs: 30_000,
  retryAfterMs: 29_500,
};
const rate: RejectionContext = { cause: 'rate', nowMs: NOW, retryAfterMs: 29_500, policies: [perMinute] };

/** The ConfigError a call throws (fails the test if it does not). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('rejection responses', () => {
  it('default: an RFC 9457 problem (quota-exceeded) with the violated policies and the retry', () => {
    const response = createRejection()(rate);
    expect(response.status).toBe(429);
    expect(response.headers).toEqual([['Content-Type', 'application/problem+json']]);
    expect(response.body).toBe(
      '{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded",' +
        '"title":"Request cannot be satisfied as assigned quota has been exceeded",' +
        '"status":429,' +
        '"detail":"Quota \\"per-minute\\" exceeded; retry in 30 seconds.",' +
        '"violated-policies":["per-minute"],' +
        '"policies":[{"name":"per-minute","limit":100,"remaining":0,"retryAfter":30}],' +
        '"retryAfter":30,' +
        '"nextValidRequestDate":"2022-04-28T19:30:29.500Z"}',
    );
  });

  it('statuses per cause: rate 429, concurrency 429, shed 503 (temporary-reduced-capacity)', () => {
    const reject = createRejection();
    expect(reject(rate).status).toBe(429);
    const busy = reject({ cause: 'concurrency', nowMs: NOW, concurrency: { limit: 5, current: 5 } });
    expect(busy.status).toBe(429);
    expect(JSON.parse(busy.body)).toEqual({
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      title: 'Request cannot be satisfied as assigned quota has been exceeded',
      status: 429,
      detail: 'Too many concurrent requests (5 in flight, limit 5); retry when one completes.',
      'violated-policies': [],
      policies: [],
      concurrency: { limit: 5, current: 5 },
    });
    const shed = reject({ cause: 'shed', nowMs: NOW, retryAfterMs: 1000 });
    expect(shed.status).toBe(503);
    expect(JSON.parse(shed.body)).toMatchObject({
      type: 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity',
      title: 'Request cannot be satisfied due to temporary server capacity constraints',
      status: 503,
      detail: 'The server is shedding load; retry in 1 second.',
      retryAfter: 1,
      nextValidRequestDate: '2022-04-28T19:30:01.000Z',
    });
  });

  it('statuses are configurable per cause; the problem carries the configured status', () => {
    const reject = createRejection({ statuses: { rate: 420, shed: 529 } });
    expect(reject(rate).status).toBe(420);
    expect(JSON.parse(reject(rate).body).status).toBe(420);
    expect(reject({ cause: 'shed', nowMs: NOW }).status).toBe(529);
    expect(reject({ cause: 'concurrency', nowMs: NOW }).status).toBe(429);
  });

  it('Merchant API (seeds/003): 409 Conflict on the concurrency limit, 429 on the rate limit', () => {
    // "409 Conflict | The concurrency limit has been reached." / "429 Too Many Requests | The rate limit has
    // been exceeded." The document shows no body, so the default problem body stays.
    const reject = createRejection({ statuses: { concurrency: 409 } });
    const busy = reject({ cause: 'concurrency', nowMs: NOW, concurrency: { limit: 5, current: 5 } });
    expect(busy.status).toBe(409);
    expect(JSON.parse(busy.body)).toMatchObject({ status: 409, concurrency: { limit: 5, current: 5 } });
    expect(reject(rate).status).toBe(429);
  });

  it('Platform API (seeds/002): reproduces its 429 body byte for byte', () => {
    // Seed: `HTTP/2 429` … `{"success":false,"message":"Too many attempts."}`
    const reject = createRejection({
      templates: { rate: { success: false, message: 'Too many attempts.' } },
    });
    const response = reject(rate);
    expect(response.status).toBe(429);
    expect(response.headers).toEqual([['Content-Type', 'application/json']]);
    expect(response.body).toBe('{"success":false,"message":"Too many attempts."}');
  });

  describe('App Platform (seeds/001)', () => {
    const template = {
      message:
        "You've made too many attempts in a short period of time, please try again in a few seconds. Read more about rate limiting and how you may be affected by reading our documentation.",
      referenceUrl: 'https://developers.fliplet.com/Rate-limiting-for-API.html',
      nextValidRequestDate: '{nextValidRequestDate}',
    };
    // The decision that makes the document's date: 3.2 s before 2021-02-15T17:13:32.363Z.
    const context: RejectionContext = {
      cause: 'rate',
      nowMs: Date.parse('2021-02-15T17:13:29.163Z'),
      retryAfterMs: 3200,
    };

    it('reproduces the body as the document prints it, byte for byte (layout `lines`)', () => {
      // Seed, verbatim (one member per line, two-space indent, no space after the colon):
      const seed = `{
  "message":"You've made too many attempts in a short period of time, please try again in a few seconds. Read more about rate limiting and how you may be affected by reading our documentation.",
  "referenceUrl":"https://developers.fliplet.com/Rate-limiting-for-API.html",
  "nextValidRequestDate":"2021-02-15T17:13:32.363Z"
}`;
      const response = createRejection({ template, layout: 'lines' })(context);
      expect(response.status).toBe(429);
      expect(response.body).toBe(seed);
    });

    it('compact by default: the same members in the same order, JSON.stringify with no spaces', () => {
      const { body } = createRejection({ template })(context);
      expect(body).toBe(
        `{"message":${JSON.stringify(template.message)},` +
          '"referenceUrl":"https://developers.fliplet.com/Rate-limiting-for-API.html",' +
          '"nextValidRequestDate":"2021-02-15T17:13:32.363Z"}',
      );
    });

    it('leaves the date out when the request can never pass', () => {
      const { body } = createRejection({ template })({ ...context, retryAfterMs: Number.POSITIVE_INFINITY });
      expect(Object.keys(JSON.parse(body))).toEqual(['message', 'referenceUrl']);
    });
  });

  it('nextValidRequestDate: ISO 8601 UTC with milliseconds, now + the exact wait (retryAfter rounds up)', () => {
    const reject = createRejection();
    const at = (nowMs: number, retryAfterMs: number) =>
      JSON.parse(reject({ ...rate, nowMs, retryAfterMs }).body);
    expect(at(NOW, 1)).toMatchObject({ retryAfter: 1, nextValidRequestDate: '2022-04-28T19:30:00.001Z' });
    expect(at(NOW, 0)).toMatchObject({ retryAfter: 1, nextValidRequestDate: '2022-04-28T19:30:00.000Z' });
    expect(at(NOW, -50)).toMatchObject({ retryAfter: 1, nextValidRequestDate: '2022-04-28T19:30:00.000Z' });
    expect(at(NOW, 86_400_001)).toMatchObject({
      retryAfter: 86_401,
      nextValidRequestDate: '2022-04-29T19:30:00.001Z',
    });
    expect(at(0, 1500).nextValidRequestDate).toBe('1970-01-01T00:00:01.500Z');
    // Out of the Date range or a NaN clock: no date rather than a throw from toISOString.
    expect(at(8.64e15, 1000)).not.toHaveProperty('nextValidRequestDate');
    expect(at(Number.NaN, 1000)).not.toHaveProperty('nextValidRequestDate');
    expect(at(Number.NaN, 1000).retryAfter).toBe(1);
  });

  it('Infinity retry: no retryAfter, no date, a detail that says why; unknown retry likewise', () => {
    const never = createRejection()({
      ...rate,
      retryAfterMs: Number.POSITIVE_INFINITY,
      policies: [{ ...perMinute, retryAfterMs: Number.POSITIVE_INFINITY }],
    });
    const body = JSON.parse(never.body);
    expect(body).not.toHaveProperty('retryAfter');
    expect(body).not.toHaveProperty('nextValidRequestDate');
    expect(body.policies).toEqual([{ name: 'per-minute', limit: 100, remaining: 0 }]);
    expect(body.detail).toBe(
      'Quota "per-minute" exceeded; the request costs more than the quota can ever allow.',
    );
    const unknown = JSON.parse(createRejection()({ cause: 'rate', nowMs: NOW }).body);
    expect(unknown.detail).toBe('Rate limit exceeded; retry later.');
    expect(unknown).not.toHaveProperty('retryAfter');
  });

  it('placeholders: a whole-string placeholder keeps its type, is left out when absent; text interpolates', () => {
    const reject = createRejection({
      templates: {
        rate: {
          error: { code: '{status}', cause: '{cause}', policy: '{policy}', limit: '{limit}' },
          retryAfter: '{retryAfter}',
          message: 'Quota {policy} exhausted ({remaining} of {limit} left), retry in {retryAfter} s',
          list: ['{retryAfter}', '{concurrencyLimit}'],
        },
        concurrency: { inFlight: '{concurrencyCurrent}', max: '{concurrencyLimit}', policy: '{policy}' },
      },
    });
    const twoPolicies = [perMinute, { ...perMinute, name: 'per-hour', limit: 1000, retryAfterMs: 600_000 }];
    expect(reject({ ...rate, retryAfterMs: 600_000, policies: twoPolicies }).body).toBe(
      '{"error":{"code":429,"cause":"rate","policy":"per-hour","limit":1000},"retryAfter":600,' +
        '"message":"Quota per-hour exhausted (0 of 1000 left), retry in 600 s","list":[600,null]}',
    );
    expect(reject({ cause: 'rate', nowMs: NOW }).body).toBe(
      '{"error":{"code":429,"cause":"rate"},"message":"Quota  exhausted ( of  left), retry in  s","list":[null,null]}',
    );
    expect(reject({ cause: 'concurrency', nowMs: NOW, concurrency: { limit: 5, current: 6 } }).body).toBe(
      '{"inFlight":6,"max":5}',
    );
  });

  it('a template is copied at creation: editing it later changes nothing', () => {
    const template = { message: 'Too many attempts.', nested: { a: 1 } };
    const reject = createRejection({ template });
    template.message = 'changed';
    template.nested.a = 2;
    expect(reject(rate).body).toBe('{"message":"Too many attempts.","nested":{"a":1}}');
  });

  it('a `__proto__` member of a template parsed from JSON stays a member', () => {
    const template = JSON.parse('{"__proto__":{"polluted":true},"ok":"{status}"}') as Record<string, never>;
    expect(createRejection({ template })(rate).body).toBe('{"__proto__":{"polluted":true},"ok":429}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('function templates receive the full context; contentType and layout apply to them', () => {
    const seen: unknown[] = [];
    const reject = createRejection({
      template: (context) => {
        seen.push(context);
        return { error: 'rate_limited', wait: context.retryAfter, at: context.nextValidRequestDate };
      },
      templates: { shed: ['busy', '{retryAfter}'] },
      contentType: 'application/json; charset=utf-8',
      layout: 'lines',
    });
    const response = reject(rate);
    expect(response.headers).toEqual([['Content-Type', 'application/json; charset=utf-8']]);
    expect(response.body).toBe(
      '{\n  "error":"rate_limited",\n  "wait":30,\n  "at":"2022-04-28T19:30:29.500Z"\n}',
    );
    expect(seen).toEqual([
      {
        cause: 'rate',
        status: 429,
        nowMs: NOW,
        retryAfterMs: 29_500,
        policies: [perMinute],
        retryAfter: 30,
        nextValidRequestDate: '2022-04-28T19:30:29.500Z',
      },
    ]);
    expect(reject({ cause: 'shed', nowMs: NOW, retryAfterMs: 2000 }).body).toBe('[\n  "busy",\n  2\n]');
    // The default problem body keeps its media type.
    const mixed = createRejection({ templates: { rate: { a: 1 } }, contentType: 'text/x-custom' });
    expect(mixed(rate).headers).toEqual([['Content-Type', 'text/x-custom']]);
    expect(mixed({ cause: 'shed', nowMs: NOW }).headers).toEqual([
      ['Content-Type', 'application/problem+json'],
    ]);
  });

  it('a function template returning what JSON cannot carry is named in the error', () => {
    const reject = createRejection({ templates: { shed: () => undefined, rate: () => ({ n: 1n }) } });
    expect(configError(() => reject({ cause: 'shed', nowMs: NOW })).path).toBe('templates.shed');
    expect(configError(() => reject(rate)).message).toMatch(
      /^Expected `templates.rate` to be a function returning a value JSON can carry/,
    );
  });

  it('refuses bad templates and options at creation, naming the path', () => {
    const holey: unknown[] = [1];
    holey[2] = 3;
    const cases: [unknown, string, RegExp][] = [
      [
        { templates: { rate: { a: { b: [1, { c: Number.NaN }] } } } },
        'templates.rate.a.b[1].c',
        /a finite number/,
      ],
      [
        { templates: { rate: { msg: 'retry in {retryafter} s' } } },
        'templates.rate.msg',
        /`\{retryafter\}` is not one/,
      ],
      [{ template: { 'x-y': undefined } }, 'template["x-y"]', /a JSON value, got `undefined`/],
      [{ template: { when: new Date(0) } }, 'template.when', /a plain object/],
      [{ template: { f: () => 1 } }, 'template.f', /a JSON value/],
      [{ template: holey }, 'template[1]', /a JSON value/],
      [{ template: 'Too many requests' }, 'template', /a function, or a JSON object or array/],
      [{ templates: { rate: null } }, 'templates.rate', /a function, or a JSON object or array/],
      [{ templates: { rat: {} } }, 'templates.rat', /Unknown cause `rat` in `templates`/],
      [{ statuses: { concurrency: 200 } }, 'statuses.concurrency', /an integer from 400 to 599, got `200`/],
      [{ statuses: { shed: '503' } }, 'statuses.shed', /an integer from 400 to 599/],
      [{ statuses: [] }, 'statuses', /an options object/],
      [{ contentType: 'application/json\r\nX-Evil: 1' }, 'contentType', /a media type/],
      [{ layout: 'pretty' }, 'layout', /`compact` or `lines`/],
      [{ tempalte: {} }, 'tempalte', /Unknown option `tempalte`/],
    ];
    for (const [options, path, message] of cases) {
      const error = configError(() => createRejection(options as never));
      expect(error.path, path).toBe(path);
      expect(error.message, path).toMatch(message);
    }
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    expect(configError(() => createRejection({ template: cyclic as never })).path).toBe('template.self.back');
    // A shared, non-cyclic sub-object is fine, and `{…}` that is not a placeholder name stays literal.
    const shared = { n: 1 };
    expect(createRejection({ template: { a: shared, b: shared, c: '{} { x } {1}' } })(rate).body).toBe(
      '{"a":{"n":1},"b":{"n":1},"c":"{} { x } {1}"}',
    );
  });

  it('property: any context gives a valid JSON body and never throws', () => {
    const number = fc.oneof(fc.integer({ min: -1e6, max: 1e9 }), fc.double());
    const policy = fc.record({
      name: fc.string({ unit: 'binary' }),
      limit: number,
      remaining: number,
      resetAfterMs: number,
      retryAfterMs: number,
    });
    const context = fc.record(
      {
        cause: fc.constantFrom('rate' as const, 'concurrency' as const, 'shed' as const),
        nowMs: fc.oneof(fc.integer({ min: 0, max: 4e12 }), fc.double()),
        retryAfterMs: number,
        policies: fc.array(policy, { maxLength: 3 }),
        concurrency: fc.record({ limit: number, current: number }),
      },
      { requiredKeys: ['cause', 'nowMs'] },
    );
    const rejections = [
      createRejection(),
      createRejection({ layout: 'lines', statuses: { concurrency: 409 } }),
      createRejection({
        template: {
          all: ['{cause}', '{status}', '{retryAfter}', '{nextValidRequestDate}', '{policy}', '{limit}'],
          text: '{remaining} {concurrencyLimit}/{concurrencyCurrent} {policy} {nextValidRequestDate}',
        },
      }),
    ];
    fc.assert(
      fc.property(context, (ctx) => {
        for (const reject of rejections) {
          const { status, headers, body } = reject(ctx);
          expect(Number.isInteger(status) && status >= 400 && status <= 599).toBe(true);
          expect(headers[0]?.[0]).toBe('Content-Type');
          const parsed = JSON.parse(body);
          expect(typeof parsed).toBe('object');
          expect(() => encodeURIComponent(body)).not.toThrow(); // well-formed: no lone surrogates
          if (reject === rejections[0]) {
            const retry = ctx.retryAfterMs;
            const finite = retry !== undefined && Number.isFinite(retry);
            expect(parsed.retryAfter === undefined).toBe(!finite);
            if (parsed.nextValidRequestDate !== undefined) {
              expect(new Date(parsed.nextValidRequestDate).toISOString()).toBe(parsed.nextValidRequestDate);
            }
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
