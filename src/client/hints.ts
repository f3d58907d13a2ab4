import {
  type FieldReader,
  type QuotaSource,
  readDraft6,
  readDraft7,
  readIetf,
  readXRateLimit,
  type ServerQuota,
} from './hints-fields.js';
import {
  MAX_RETRY_AFTER_MS,
  parseIsoDate,
  parseNumber,
  parseRetryAfter,
  resetAfterMs,
} from './hints-time.js';

export type { QuotaSource, ServerQuota } from './hints-fields.js';
export {
  MAX_PERIOD_MS,
  MAX_RETRY_AFTER_MS,
  parseHttpDate,
  parseIsoDate,
  parseRetryAfter,
  UNIX_TIME_THRESHOLD_S,
} from './hints-time.js';

/**
 * Response header fields, as a Fetch `Headers` or a Node-style record (names in any case, repeated fields
 * as arrays).
 *
 * @example
 * ```ts
 * const headers: HeaderSource = { 'retry-after': '30', 'X-RateLimit-Remaining': ['0'] };
 * ```
 */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

/**
 * What a response tells a client about its limits.
 *
 * @example
 * ```ts
 * const hints: ServerHints = { retryAfterMs: 30_000, quotas: [], };
 * ```
 */
export interface ServerHints {
  /**
   * How long to wait before the next request (ms from `nowMs`, ≥ 0, clamped to 24 h): the longest of
   * `Retry-After`, `X-Ratelimit-Retry-After` (Unix seconds; below 1e9, delta seconds) and a JSON body's
   * `nextValidRequestDate`.
   * Some APIs send `X-Ratelimit-Retry-After` on every response: honour it on a 429 or 503.
   */
  retryAfterMs?: number;
  /** Every policy the server announced, `ietf` first, then `draft-7`, `draft-6`, `x-ratelimit`. */
  quotas: ServerQuota[];
  /** The quota to pace by: see {@link bindingQuota}. */
  binding?: ServerQuota;
  /**
   * The server's concurrency limit and the requests it counts in flight, from `X-Concurrency-Limit` and
   * `X-Concurrency-Current` (whole numbers ≥ 0; the limit ≥ 1).
   */
  concurrency?: { limit?: number; current?: number };
}

const RANK: Record<QuotaSource, number> = { ietf: 0, 'draft-7': 1, 'draft-6': 2, 'x-ratelimit': 3 };

/**
 * The quota a client should pace by: among quotas that report `remaining` (or all, when none does), those of
 * the most trusted source (`ietf` > `draft-7` > `draft-6` > `x-ratelimit`), then the least remaining, then
 * the longest reset; the first listed wins a full tie.
 *
 * @example
 * ```ts
 * bindingQuota([{ remaining: 50, source: 'ietf' }, { remaining: 1, source: 'ietf' }]); // { remaining: 1, … }
 * ```
 */
export function bindingQuota(quotas: readonly ServerQuota[]): ServerQuota | undefined {
  const known = quotas.filter((q) => q.remaining !== undefined);
  let bound: ServerQuota | undefined;
  for (const q of known.length > 0 ? known : quotas) {
    if (bound === undefined || precedes(q, bound)) bound = q;
  }
  return bound;
}

function precedes(a: ServerQuota, b: ServerQuota): boolean {
  if (RANK[a.source] !== RANK[b.source]) return RANK[a.source] < RANK[b.source];
  const [ra, rb] = [a.remaining ?? Number.POSITIVE_INFINITY, b.remaining ?? Number.POSITIVE_INFINITY];
  if (ra !== rb) return ra < rb;
  return (a.resetAfterMs ?? 0) > (b.resetAfterMs ?? 0);
}

/** All values of a field, case-insensitively; repeated fields give several strings. */
function fieldValues(headers: HeaderSource, name: string): string[] {
  if (typeof (headers as Headers).get === 'function') {
    const value = (headers as Headers).get(name);
    return typeof value === 'string' ? [value] : [];
  }
  const out: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'string') out.push(v);
  }
  return out;
}

/** A whole number ≥ `min` from a field's value (one value only); `undefined` when absent or malformed. */
function count(value: string | undefined, min: number): number | undefined {
  if (value === undefined || !/^\s*\d{1,9}\s*$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min ? n : undefined;
}

/** A body's `nextValidRequestDate` (ISO 8601), from a parsed JSON value or JSON text. */
function bodyDate(body: unknown): number | undefined {
  let value = body;
  if (typeof value === 'string') value = JSON.parse(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const date: unknown = (value as Record<string, unknown>).nextValidRequestDate;
  return typeof date === 'string' ? parseIsoDate(date) : undefined;
}

/** Each way the server gives a wait, as ms from `nowMs` (malformed ones skipped). */
function waits(values: (name: string) => string[], nowMs: number, body: unknown): number[] {
  const out: (number | undefined)[] = values('retry-after').map((v) => parseRetryAfter(v, nowMs));
  for (const value of values('x-ratelimit-retry-after')) {
    for (const part of value.split(',')) {
      const seconds = parseNumber(part);
      if (seconds !== undefined) out.push(resetAfterMs(seconds, nowMs, MAX_RETRY_AFTER_MS));
    }
  }
  try {
    const dateMs = bodyDate(body);
    if (dateMs !== undefined) out.push(Math.min(Math.max(0, dateMs - nowMs), MAX_RETRY_AFTER_MS));
  } catch {
    // Not JSON, or a body whose property access throws: no hint.
  }
  return out.filter((ms): ms is number => ms !== undefined && Number.isFinite(ms));
}

/**
 * Reads what a response says about rate limits: the wait it asks for and every quota it announces, in every
 * format servers use (IETF draft-10, drafts 7 and 6, `X-RateLimit-*`, `Retry-After`, `X-Ratelimit-Retry-After`,
 * a JSON body's `nextValidRequestDate`). Pure: time comes from `nowMs`. Never throws: a malformed field is
 * ignored (no hint rather than a wrong hint), and every number returned is finite and non-negative.
 *
 * Resets given in seconds are read as Unix times when ≥ 1e9 and as deltas otherwise; waits are clamped to
 * 24 h, resets and windows to 366 days.
 *
 * @example
 * ```ts
 * const hints = readHints(response.headers, Date.now(), await response.clone().json().catch(() => undefined));
 * if (response.status === 429 && hints.retryAfterMs !== undefined) await sleep(hints.retryAfterMs);
 * const pace = hints.binding; // e.g. { name: 'per-minute', limit: 100, remaining: 3, resetAfterMs: 20_000, … }
 * ```
 */
export function readHints(headers: HeaderSource, nowMs: number, body?: unknown): ServerHints {
  const values = (name: string): string[] => {
    try {
      return fieldValues(headers, name);
    } catch {
      return [];
    }
  };
  const field: FieldReader = (name) => {
    const all = values(name);
    return all.length === 0 ? undefined : all.join(', ');
  };
  const quotas = [
    ...readIetf(field, nowMs),
    ...readDraft7(field, nowMs),
    ...readDraft6(field, nowMs),
    ...readXRateLimit(field, nowMs),
  ];
  const hints: ServerHints = { quotas };
  const wait = waits(values, nowMs, body);
  if (wait.length > 0) hints.retryAfterMs = Math.max(...wait);
  const binding = bindingQuota(quotas);
  if (binding !== undefined) hints.binding = binding;
  const limit = count(field('x-concurrency-limit'), 1);
  const current = count(field('x-concurrency-current'), 0);
  if (limit !== undefined || current !== undefined)
    hints.concurrency = {
      ...(limit === undefined ? {} : { limit }),
      ...(current === undefined ? {} : { current }),
    };
  return hints;
}
