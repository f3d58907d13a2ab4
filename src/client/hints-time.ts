/**
 * Times a server announces (`Retry-After`, Unix timestamps, ISO 8601 dates, reset deltas), read into
 * non-negative, finite millisecond durations from an injected `nowMs`. Every reader returns `undefined`
 * for a malformed value and never throws.
 */

/**
 * The longest wait a server may ask for: `retryAfterMs` above 24 h is clamped to 24 h. A longer wait is either
 * a server bug or a daily quota; a client still learns that it should stop, without sleeping for weeks.
 *
 * @example
 * ```ts
 * Math.min(waitMs, MAX_RETRY_AFTER_MS);
 * ```
 */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * The longest reset or window a quota may announce: 366 days (monthly and yearly quotas are real); longer
 * values are clamped to it.
 *
 * @example
 * ```ts
 * Math.min(resetAfterMs, MAX_PERIOD_MS);
 * ```
 */
export const MAX_PERIOD_MS = 366 * 24 * 60 * 60 * 1000;

/**
 * Where a reset given in seconds stops being a delta and becomes a Unix time: 1e9 s is 31.7 years as a
 * delta (no window is that long) and 2001-09-09 as a Unix time (every clock a server runs on is past it).
 * So a value ≥ 1e9 is read as a Unix time in seconds, anything smaller as delta seconds.
 *
 * @example
 * ```ts
 * const isUnixTime = seconds >= UNIX_TIME_THRESHOLD_S;
 * ```
 */
export const UNIX_TIME_THRESHOLD_S = 1e9;

/** A non-negative decimal number of at most 15 integer digits (what sf-integers and Unix times need). */
const NUMBER = /^\d{1,15}(?:\.\d{1,9})?$/;
const DELTA_SECONDS = /^\d+(?:\.\d+)?$/;

const clamp = (ms: number, maxMs: number): number | undefined =>
  Number.isNaN(ms) ? undefined : Math.min(Math.max(0, Math.ceil(ms)), maxMs);

/**
 * Reads a plain non-negative number (`"5"`, `"1651174223.5"`), as the legacy `X-RateLimit-*` fields carry
 * them: no sign, no exponent, at most 15 integer digits; anything else is `undefined`.
 *
 * @example
 * ```ts
 * parseNumber(' 42 '); // 42
 * parseNumber('-1'); // undefined
 * ```
 */
export function parseNumber(value: string): number | undefined {
  const text = value.trim();
  return NUMBER.test(text) ? Number(text) : undefined;
}

/**
 * Milliseconds until a reset given in seconds, either a delta or a Unix time (detected with
 * {@link UNIX_TIME_THRESHOLD_S}); never negative, clamped to `maxMs`.
 *
 * @example
 * ```ts
 * resetAfterMs(30, nowMs); // 30_000
 * resetAfterMs(nowMs / 1000 + 30, nowMs); // 30_000
 * ```
 */
export function resetAfterMs(seconds: number, nowMs: number, maxMs = MAX_PERIOD_MS): number | undefined {
  if (!Number.isFinite(seconds) || seconds < 0) return undefined;
  if (seconds < UNIX_TIME_THRESHOLD_S) return clamp(seconds * 1000, maxMs);
  return Number.isFinite(nowMs) ? clamp(seconds * 1000 - nowMs, maxMs) : undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const DAY = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun';
const LONG_DAY = 'Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = new RegExp(`^(?:${DAY}), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`, 'i');
/** `Sunday, 06-Nov-94 08:49:37 GMT` */
const RFC850_DATE = new RegExp(`^(?:${LONG_DAY}), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`, 'i');
/** `Sun Nov  6 08:49:37 1994` */
const ASCTIME_DATE = new RegExp(`^(?:${DAY}) (${MONTH}) ( \\d|\\d{2}) ${TIME} (\\d{4})$`, 'i');
/** `2021-02-15T17:13:32.363Z`, `2021-02-15T18:13:32+01:00`: a date, a time and a zone, all required. */
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

const month = (name: string): number => MONTHS.findIndex((m) => m.toLowerCase() === name.toLowerCase());

/** A UTC time from calendar fields, `undefined` when a field is out of range (31 Feb, 25:00). */
function utc(
  year: number,
  monthIndex: number,
  day: number,
  h: number,
  m: number,
  s: number,
): number | undefined {
  if (monthIndex < 0 || day < 1 || h > 23 || m > 59 || s > 60) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex, day);
  if (date.getUTCMonth() !== monthIndex || date.getUTCDate() !== day) return undefined;
  date.setUTCHours(h, m, s);
  return date.getTime();
}

/**
 * Reads an HTTP-date in each of the three forms RFC 9110 §5.6.7 requires recipients to accept
 * (IMF-fixdate, obsolete RFC 850 and asctime) into a Unix time in milliseconds. A two-digit RFC 850 year
 * more than 50 years in the future of `nowMs` is read as the most recent past year with those digits.
 *
 * @example
 * ```ts
 * parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', nowMs); // 784111777000
 * parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', nowMs); // 784111777000
 * parseHttpDate('Sun Nov  6 08:49:37 1994', nowMs); // 784111777000
 * ```
 */
export function parseHttpDate(value: string, nowMs: number): number | undefined {
  const text = value.trim();
  let m = IMF_FIXDATE.exec(text);
  if (m !== null) return utc(+m[3]!, month(m[2]!), +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  m = RFC850_DATE.exec(text);
  if (m !== null) {
    if (!Number.isFinite(nowMs)) return undefined;
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + +m[3]!;
    if (year > nowYear + 50) year -= 100;
    return utc(year, month(m[2]!), +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  }
  m = ASCTIME_DATE.exec(text);
  if (m !== null) return utc(+m[6]!, month(m[1]!), +m[2]!, +m[3]!, +m[4]!, +m[5]!);
  return undefined;
}

/**
 * Reads an ISO 8601 date-time with a zone (`Z` or `±hh:mm`), as a JSON body's `nextValidRequestDate`
 * carries it, into a Unix time in milliseconds. A date without a zone is ambiguous and ignored.
 *
 * @example
 * ```ts
 * parseIsoDate('2021-02-15T17:13:32.363Z'); // 1613409212363
 * ```
 */
export function parseIsoDate(value: string): number | undefined {
  const m = ISO_8601.exec(value.trim());
  if (m === null) return undefined;
  const base = utc(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  const [sign, hh, mm] = [m[9], m[10], m[11]];
  const offsetH = hh === undefined ? 0 : +hh;
  const offsetM = mm === undefined ? 0 : +mm;
  if (base === undefined || offsetH > 23 || offsetM > 59) return undefined;
  const fractionMs = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000;
  const offsetMs = (sign === '-' ? -1 : 1) * (offsetH * 60 + offsetM) * 60_000;
  return base + Math.floor(fractionMs) - offsetMs;
}

/**
 * Reads a `Retry-After` value, delta seconds (`"120"`, leniently `"1.5"`) or an HTTP-date in any of its
 * three forms, into milliseconds from `nowMs`: never negative (a past date is `0`), clamped to
 * {@link MAX_RETRY_AFTER_MS}; `undefined` when the value is malformed.
 *
 * @example
 * ```ts
 * parseRetryAfter('120', nowMs); // 120_000
 * parseRetryAfter(new Date(nowMs + 5000).toUTCString(), nowMs); // 5000
 * parseRetryAfter('soon', nowMs); // undefined
 * ```
 */
export function parseRetryAfter(value: string, nowMs: number): number | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (DELTA_SECONDS.test(text)) return clamp(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  const dateMs = parseHttpDate(text, nowMs);
  return dateMs === undefined ? undefined : clamp(dateMs - nowMs, MAX_RETRY_AFTER_MS);
}
