/**
 * Readers for the quota fields servers send: IETF draft-10 `RateLimit`/`RateLimit-Policy`, draft-7,
 * draft-6 and the legacy `X-RateLimit-*` fields. Structured fields are parsed with `structured-headers`
 * (RFC 9651); a field that does not parse is ignored, a member or parameter of the wrong type is skipped.
 */
import { type BareItem, type Item, parseDictionary, parseList, Token } from 'structured-headers';
import { MAX_PERIOD_MS, parseNumber, resetAfterMs } from './hints-time.js';

/**
 * Which family of header fields a quota was read from.
 *
 * @example
 * ```ts
 * const source: QuotaSource = 'ietf';
 * ```
 */
export type QuotaSource = 'ietf' | 'draft-7' | 'draft-6' | 'x-ratelimit';

/**
 * One policy a server announced. Every number is finite and non-negative; a field the server did not send
 * (or sent malformed) is absent.
 *
 * @example
 * ```ts
 * const quota: ServerQuota = { name: 'per-minute', limit: 100, remaining: 50, resetAfterMs: 30_000, windowMs: 60_000, source: 'ietf' };
 * ```
 */
export interface ServerQuota {
  /** The policy's name (`ietf` only). */
  name?: string;
  /** Units allowed per window (`q`, `limit`). */
  limit?: number;
  /** Units left in the current window (`r`, `remaining`). */
  remaining?: number;
  /** Milliseconds until the quota resets (`t`, `reset`), from `nowMs`. */
  resetAfterMs?: number;
  /** The policy's window in milliseconds (`w`). */
  windowMs?: number;
  /** The fields it was read from. */
  source: QuotaSource;
}

/** Reads one field's combined value; `undefined` when absent. */
export type FieldReader = (name: string) => string | undefined;

/** Parses with a structured-headers parser, `undefined` on a syntax error. */
function attempt<T>(parse: (text: string) => T, text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return parse(text);
  } catch {
    return undefined;
  }
}

/** A whole, non-negative, safe count. */
const count = (v: BareItem | undefined): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
/** A non-negative number of seconds as milliseconds, clamped to {@link MAX_PERIOD_MS}. */
const period = (v: BareItem | undefined): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0
    ? Math.min(Math.ceil(v * 1000), MAX_PERIOD_MS)
    : undefined;
const reset = (v: BareItem | undefined, nowMs: number): number | undefined =>
  typeof v === 'number' ? resetAfterMs(v, nowMs) : undefined;
const nameOf = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : v instanceof Token ? v.toString() : undefined;
const isItem = (member: unknown): member is Item => Array.isArray(member) && !Array.isArray(member[0]);

/** Builds a quota with only the fields that have a value (exactOptionalPropertyTypes). */
function quota(
  source: QuotaSource,
  fields: { [K in Exclude<keyof ServerQuota, 'source'>]?: ServerQuota[K] | undefined },
): ServerQuota {
  const out: ServerQuota = { source };
  for (const key of ['name', 'limit', 'remaining', 'resetAfterMs', 'windowMs'] as const) {
    const value = fields[key];
    if (value !== undefined) Object.assign(out, { [key]: value });
  }
  return out;
}
const hasNumbers = (q: ServerQuota): boolean =>
  q.limit !== undefined ||
  q.remaining !== undefined ||
  q.resetAfterMs !== undefined ||
  q.windowMs !== undefined;

/** The members of a parsed list that are items (inner lists are skipped). */
const items = (list: ReturnType<typeof parseList> | undefined): Item[] => (list ?? []).filter(isItem);

/**
 * The `ietf` quotas: each `RateLimit` member joined by name with a `RateLimit-Policy` member (each policy
 * used once, in order), then the announced policies no `RateLimit` member named.
 *
 * @example
 * ```ts
 * readIetf((n) => ({ 'ratelimit-policy': '"a";q=100;w=60', ratelimit: '"a";r=50;t=30' })[n], nowMs);
 * // [{ name: 'a', limit: 100, windowMs: 60_000, remaining: 50, resetAfterMs: 30_000, source: 'ietf' }]
 * ```
 */
export function readIetf(field: FieldReader, nowMs: number): ServerQuota[] {
  const policies = items(attempt(parseList, field('ratelimit-policy')))
    .map(([value, params]) => ({ name: nameOf(value), params, used: false }))
    .filter((p) => p.name !== undefined);
  const out: ServerQuota[] = [];
  for (const [value, params] of items(attempt(parseList, field('ratelimit')))) {
    const name = nameOf(value);
    if (name === undefined) continue;
    const policy = policies.find((p) => !p.used && p.name === name);
    if (policy !== undefined) policy.used = true;
    out.push(
      quota('ietf', {
        name,
        limit: count(policy?.params.get('q')),
        windowMs: period(policy?.params.get('w')),
        remaining: count(params.get('r')),
        resetAfterMs: reset(params.get('t'), nowMs),
      }),
    );
  }
  for (const p of policies) {
    if (!p.used)
      out.push(
        quota('ietf', { name: p.name, limit: count(p.params.get('q')), windowMs: period(p.params.get('w')) }),
      );
  }
  return out.filter(hasNumbers);
}

/** Drafts 6 and 7 `RateLimit-Policy`: `100;w=60, 5;w=1` (unnamed integer members). */
const draftPolicies = (field: FieldReader): { limit: number; windowMs: number | undefined }[] =>
  items(attempt(parseList, field('ratelimit-policy'))).flatMap(([value, params]) => {
    const limit = count(value);
    return limit === undefined ? [] : [{ limit, windowMs: period(params.get('w')) }];
  });

/** The reported quota, then the other announced policies (limit and window only). */
function withPolicies(source: QuotaSource, reported: ServerQuota, field: FieldReader): ServerQuota[] {
  const policies = draftPolicies(field);
  const own = policies.find((p) => p.limit === reported.limit);
  const first = own === undefined ? reported : { ...reported, ...quota(source, { windowMs: own.windowMs }) };
  const others = policies.filter((p) => p !== own).map((p) => quota(source, p));
  return hasNumbers(first) ? [first, ...others] : [];
}

/**
 * The `draft-7` quota: `RateLimit: limit=100, remaining=50, reset=30` (a dictionary), its window from a
 * draft `RateLimit-Policy` member with the same limit, then the other policies announced there.
 *
 * @example
 * ```ts
 * readDraft7((n) => ({ ratelimit: 'limit=5, remaining=1, reset=1' })[n], nowMs);
 * // [{ limit: 5, remaining: 1, resetAfterMs: 1000, source: 'draft-7' }]
 * ```
 */
export function readDraft7(field: FieldReader, nowMs: number): ServerQuota[] {
  const dict = attempt(parseDictionary, field('ratelimit'));
  if (dict === undefined) return [];
  const get = (key: string): BareItem | undefined => {
    const member = dict.get(key);
    return isItem(member) ? member[0] : undefined;
  };
  const reported = quota('draft-7', {
    limit: count(get('limit')),
    remaining: count(get('remaining')),
    resetAfterMs: reset(get('reset'), nowMs),
  });
  return withPolicies('draft-7', reported, field);
}

/** Several values of a single-number field (`"5, 5"`): all must be numbers; `pick` combines them. */
function numbers(text: string | undefined, pick: (...n: number[]) => number): number | undefined {
  if (text === undefined) return undefined;
  const values = text.split(',').map(parseNumber);
  return values.every((v) => v !== undefined) ? pick(...values) : undefined;
}
const whole = (n: number | undefined): number | undefined =>
  n !== undefined && Number.isSafeInteger(n) ? n : undefined;

/**
 * The `draft-6` quota: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (delta seconds, or a Unix
 * time when ≥ 1e9), its window from `RateLimit-Policy`, then the other announced policies. A limit written
 * as an early draft's list (`10, 10;w=1`) is read from its first member, the window from a member with
 * the same limit.
 *
 * @example
 * ```ts
 * readDraft6((n) => ({ 'ratelimit-limit': '100', 'ratelimit-remaining': '50', 'ratelimit-reset': '30' })[n], nowMs);
 * // [{ limit: 100, remaining: 50, resetAfterMs: 30_000, source: 'draft-6' }]
 * ```
 */
export function readDraft6(field: FieldReader, nowMs: number): ServerQuota[] {
  const list = items(attempt(parseList, field('ratelimit-limit')));
  const limit = count(list[0]?.[0]);
  const policy = list.find(([value, params]) => value === limit && params.has('w'));
  const resetS = numbers(field('ratelimit-reset'), Math.max);
  const reported = quota('draft-6', {
    limit,
    windowMs: period(policy?.[1].get('w')),
    remaining: whole(numbers(field('ratelimit-remaining'), Math.min)),
    resetAfterMs: resetS === undefined ? undefined : resetAfterMs(resetS, nowMs),
  });
  return withPolicies('draft-6', reported, field);
}

/**
 * The `x-ratelimit` quota: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix seconds
 * when ≥ 1e9, else delta seconds). Without a reset field, `X-Ratelimit-Retry-After` (a Unix time, which
 * APIs such as the Platform API send in its place) gives the reset.
 *
 * @example
 * ```ts
 * readXRateLimit((n) => ({ 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '1' })[n], nowMs);
 * // [{ limit: 5, remaining: 1, source: 'x-ratelimit' }]
 * ```
 */
export function readXRateLimit(field: FieldReader, nowMs: number): ServerQuota[] {
  const resetS =
    numbers(field('x-ratelimit-reset'), Math.max) ?? numbers(field('x-ratelimit-retry-after'), Math.max);
  const q = quota('x-ratelimit', {
    limit: whole(numbers(field('x-ratelimit-limit'), Math.min)),
    remaining: whole(numbers(field('x-ratelimit-remaining'), Math.min)),
    resetAfterMs: resetS === undefined ? undefined : resetAfterMs(resetS, nowMs),
  });
  return hasNumbers(q) ? [q] : [];
}
