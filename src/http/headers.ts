import {
  type Item,
  serializeDictionary,
  serializeInteger,
  serializeItem,
  serializeList,
} from 'structured-headers';

/**
 * Which rate limit header fields a response carries:
 * - `ietf`: the current IETF draft (draft-ietf-httpapi-ratelimit-headers-10), `RateLimit-Policy` and
 *   `RateLimit`, one list member per applied policy;
 * - `draft-7`: `RateLimit: limit=…, remaining=…, reset=…` and `RateLimit-Policy`;
 * - `draft-6`: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`;
 * - `legacy`: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix seconds).
 *
 * @example
 * ```ts
 * const profile: HeaderProfile = 'ietf';
 * ```
 */
export type HeaderProfile = 'ietf' | 'draft-7' | 'draft-6' | 'legacy';

/**
 * What one applied policy reports about a request.
 *
 * @example
 * ```ts
 * const quota: QuotaReport = { name: 'per-minute', quota: 100, windowMs: 60_000, remaining: 50, resetAfterMs: 30_000 };
 * ```
 */
export interface QuotaReport {
  /** The policy's name, as clients see it. */
  readonly name: string;
  /** Units the policy allows per window (a bucket's burst, a window's limit). */
  readonly quota: number;
  /** The policy's window (ms): the window of a window limit, the time a bucket takes to refill. */
  readonly windowMs: number;
  /** Whole units left. */
  readonly remaining: number;
  /** Milliseconds until the quota is fully restored. */
  readonly resetAfterMs: number;
  /**
   * Announced only: a shadow policy is listed in the `ietf` fields but never binds the single-policy
   * profiles (`draft-7`, `draft-6`, `legacy`) while an enforced one applies.
   */
  readonly shadow?: boolean;
}

/**
 * The header fields a response of a limited route carries, and how they are named.
 *
 * @example
 * ```ts
 * const options: HeaderOptions = { profiles: ['ietf', 'legacy'], retryAfterTimestamp: 'X-Ratelimit-Retry-After' };
 * ```
 */
export interface HeaderOptions {
  /**
   * The profiles to emit, in order. When two profiles share a field name (`RateLimit-Policy` in `ietf` and
   * `draft-6`; `RateLimit` in `ietf` and `draft-7`), the first listed keeps it.
   * @default ['ietf']
   */
  readonly profiles?: readonly HeaderProfile[];
  /**
   * Names of the `legacy` profile's fields, for APIs that spell them their own way; `false` leaves a field
   * out (e.g. `{ reset: false }` when the API announces the reset with `retryAfterTimestamp` instead).
   * @default { limit: 'X-RateLimit-Limit', remaining: 'X-RateLimit-Remaining', reset: 'X-RateLimit-Reset' }
   */
  readonly legacyNames?: {
    readonly limit?: string | false;
    readonly remaining?: string | false;
    readonly reset?: string | false;
  };
  /**
   * A field announcing, as a Unix time in seconds, when the binding policy resets (or, on a rejection,
   * when the request may be retried), e.g. `X-Ratelimit-Retry-After`. Off when omitted.
   */
  readonly retryAfterTimestamp?: string;
  /**
   * Names of the concurrency fields, emitted when the response has a concurrency report.
   * @default { limit: 'X-Concurrency-Limit', current: 'X-Concurrency-Current' }
   */
  readonly concurrencyNames?: { readonly limit: string; readonly current: string };
  /**
   * `Retry-After` (delta seconds) on every rejection whose wait is finite; `false` leaves it out, for APIs
   * that announce the wait their own way (`retryAfterTimestamp`).
   * @default true
   */
  readonly retryAfter?: boolean;
}

/**
 * Everything a response's rate limit fields are made from.
 *
 * @example
 * ```ts
 * const report: ResponseReport = { nowMs: Date.now(), quotas: [perMinute], retryAfterMs: 1500 };
 * ```
 */
export interface ResponseReport {
  /** The time of the decision (ms), for fields given as Unix times. */
  readonly nowMs: number;
  /** One entry per applied policy, in the order they should be listed. */
  readonly quotas: readonly QuotaReport[];
  /** Set on a rate-limit rejection: how long until the request may be retried (`Infinity`: never). */
  readonly retryAfterMs?: number;
  /** The concurrency limit of the request's key and how many requests are in flight, when there is one. */
  readonly concurrency?: { readonly limit: number; readonly current: number };
}

const seconds = (ms: number): number => whole(ms > 0 ? Math.ceil(ms / 1000) : 0);
/** A whole, non-negative number: what every field here may carry (SF integers are at most 15 digits). */
const whole = (n: number): number =>
  Number.isFinite(n)
    ? Math.min(Math.max(0, Math.floor(n)), 999_999_999_999_999)
    : n > 0
      ? 999_999_999_999_999
      : 0;
/** sf-string allows printable ASCII only: anything else in a policy name becomes `?`. */
const printable = (name: string): string => name.replace(/[^\x20-\x7e]/g, '?');

/** The policy that binds: the one with the least remaining, the longest reset breaking ties. */
function binding(quotas: readonly QuotaReport[]): QuotaReport | undefined {
  let bound: QuotaReport | undefined;
  let enforced = false;
  for (const q of quotas) enforced ||= q.shadow !== true;
  for (const q of quotas) {
    if (enforced && q.shadow === true) continue;
    if (
      bound === undefined ||
      q.remaining < bound.remaining ||
      (q.remaining === bound.remaining && q.resetAfterMs > bound.resetAfterMs)
    ) {
      bound = q;
    }
  }
  return bound;
}

/**
 * Policy fields depend only on the applied policies (names, quotas, windows), which repeat from request to
 * request: they are serialised once per set and remembered (a bounded cache).
 */
const policyFields = new Map<string, string>();
function memo(key: string, make: () => string): string {
  let field = policyFields.get(key);
  if (field === undefined) {
    if (policyFields.size >= 1024) policyFields.clear();
    field = make();
    policyFields.set(key, field);
  }
  return field;
}
/** A policy name as an sf-string item (`"name"`), serialised once per name (a bounded cache). */
const names = new Map<string, string>();
function nameItem(name: string): string {
  let item = names.get(name);
  if (item === undefined) {
    if (names.size >= 1024) names.clear();
    item = serializeItem([printable(name), new Map()]);
    names.set(name, item);
  }
  return item;
}

/** The quotas a policy field was last made from, per kind: consecutive requests mostly repeat them. */
interface LastField {
  quotas: readonly QuotaReport[] | undefined;
  field: string;
}
const lastIetf: LastField = { quotas: undefined, field: '' };
const lastDraft: LastField = { quotas: undefined, field: '' };

/** A policy field, from `last` when the quotas name the same policies, else from the bounded cache. */
function policyField(
  last: LastField,
  kind: string,
  quotas: readonly QuotaReport[],
  make: () => string,
): string {
  const before = last.quotas;
  if (before?.length === quotas.length) {
    let same = true;
    for (let i = 0; same && i < quotas.length; i++) {
      const [a, b] = [before[i]!, quotas[i]!];
      same = a.name === b.name && a.quota === b.quota && a.windowMs === b.windowMs;
    }
    if (same) return last.field;
  }
  const field = memo(`${kind}${signature(quotas)}`, make);
  last.quotas = quotas;
  last.field = field;
  return field;
}

const signature = (quotas: readonly QuotaReport[]): string => {
  let text = '';
  for (const q of quotas) text += `\u0000${q.name}\u0000${q.quota}\u0000${q.windowMs}`;
  return text;
};

/** `RateLimit-Policy` of drafts 6 and 7: `100;w=60, 1000;w=3600`. */
const draftPolicy = (quotas: readonly QuotaReport[]): string =>
  policyField(lastDraft, 'draft', quotas, () =>
    serializeList(
      quotas.map((q): Item => [whole(q.quota), new Map([['w', Math.max(1, seconds(q.windowMs))]])]),
    ),
  );

/**
 * The rate limit header fields of one response, as `[name, value]` pairs in a stable order. Structured
 * fields are serialised with the `structured-headers` library (RFC 9651), never by hand. `Retry-After`
 * (delta seconds) is added on every rejection whose wait is finite.
 *
 * @example
 * ```ts
 * const fields = rateLimitHeaders(
 *   { nowMs: Date.now(), quotas: [{ name: 'api', quota: 100, windowMs: 60_000, remaining: 0, resetAfterMs: 30_000 }], retryAfterMs: 30_000 },
 *   { profiles: ['ietf'] },
 * );
 * // [['RateLimit-Policy', '"api";q=100;w=60'], ['RateLimit', '"api";r=0;t=30'], ['Retry-After', '30']]
 * for (const [name, value] of fields) res.setHeader(name, value);
 * ```
 */
export function rateLimitHeaders(report: ResponseReport, options: HeaderOptions = {}): [string, string][] {
  const out: [string, string][] = [];
  const { quotas } = report;
  const bound = binding(quotas);
  for (const profile of options.profiles ?? ['ietf']) {
    if (quotas.length === 0 || bound === undefined) break;
    switch (profile) {
      case 'ietf': {
        const policy = policyField(lastIetf, 'ietf', quotas, () =>
          serializeList(
            quotas.map((q) => [
              printable(q.name),
              new Map([
                ['q', whole(q.quota)],
                ['w', Math.max(1, seconds(q.windowMs))],
              ]),
            ]),
          ),
        );
        // Each member is the policy's name (an sf-string, serialised once by the library) and its parameters;
        // members are joined as RFC 9651 §4.1.1 lists are (", ").
        let current = '';
        for (const q of quotas) {
          // Parameters `r` and `t` (fixed keys), their values serialised by the library as sf-integers.
          const member = `${nameItem(q.name)};r=${serializeInteger(whole(q.remaining))};t=${serializeInteger(seconds(q.resetAfterMs))}`;
          current = current === '' ? member : `${current}, ${member}`;
        }
        out.push(['RateLimit-Policy', policy], ['RateLimit', current]);
        break;
      }
      case 'draft-7':
        out.push(
          [
            'RateLimit',
            serializeDictionary({
              limit: whole(bound.quota),
              remaining: whole(bound.remaining),
              reset: seconds(bound.resetAfterMs),
            }),
          ],
          ['RateLimit-Policy', draftPolicy(quotas)],
        );
        break;
      case 'draft-6':
        out.push(
          ['RateLimit-Limit', String(whole(bound.quota))],
          ['RateLimit-Remaining', String(whole(bound.remaining))],
          ['RateLimit-Reset', String(seconds(bound.resetAfterMs))],
          ['RateLimit-Policy', draftPolicy(quotas)],
        );
        break;
      case 'legacy': {
        const names = options.legacyNames ?? {};
        const limit = names.limit ?? 'X-RateLimit-Limit';
        const remaining = names.remaining ?? 'X-RateLimit-Remaining';
        const reset = names.reset ?? 'X-RateLimit-Reset';
        if (limit !== false) out.push([limit, String(whole(bound.quota))]);
        if (remaining !== false) out.push([remaining, String(whole(bound.remaining))]);
        if (reset !== false) out.push([reset, String(seconds(report.nowMs + bound.resetAfterMs))]);
        break;
      }
    }
  }
  const retry = report.retryAfterMs;
  if (options.retryAfterTimestamp !== undefined) {
    const waitMs = retry !== undefined && Number.isFinite(retry) ? retry : bound?.resetAfterMs;
    if (waitMs !== undefined) out.push([options.retryAfterTimestamp, String(seconds(report.nowMs + waitMs))]);
  }
  if (report.concurrency !== undefined) {
    const names = options.concurrencyNames ?? {
      limit: 'X-Concurrency-Limit',
      current: 'X-Concurrency-Current',
    };
    out.push(
      [names.limit, String(whole(report.concurrency.limit))],
      [names.current, String(whole(report.concurrency.current))],
    );
  }
  if (retry !== undefined && Number.isFinite(retry) && options.retryAfter !== false)
    out.push(['Retry-After', String(Math.max(1, seconds(retry)))]);
  return (options.profiles?.length ?? 1) > 1 ? firstOfEachName(out) : out;
}

/**
 * Profiles that share a field name (`RateLimit-Policy` in `ietf` and `draft-6`, `RateLimit` in `ietf` and
 * `draft-7`) would give one field two syntaxes: the first profile listed keeps the name.
 */
function firstOfEachName(fields: [string, string][]): [string, string][] {
  const seen = new Set<string>();
  return fields.filter(([name]) => {
    const lower = name.toLowerCase();
    if (seen.has(lower)) return false;
    seen.add(lower);
    return true;
  });
}
