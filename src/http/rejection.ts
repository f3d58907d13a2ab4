import { ConfigError } from '../core/errors.js';
import { fail, knownKeys, optionsObject } from '../internal/describe.js';
import { finite, problem, seconds } from './problem.js';

/**
 * Why a request is rejected: `rate` (a quota is exhausted), `concurrency` (too many requests in flight),
 * `shed` (the server is shedding load).
 *
 * @example
 * ```ts
 * const cause: RejectionCause = lease === undefined ? 'concurrency' : 'rate';
 * ```
 */
export type RejectionCause = 'rate' | 'concurrency' | 'shed';

/**
 * A policy that denied the request (a `Decision` with its name).
 *
 * @example
 * ```ts
 * const policy: ViolatedPolicy = { name: 'per-minute', limit: 100, remaining: 0, resetAfterMs: 30_000, retryAfterMs: 30_000 };
 * ```
 */
export interface ViolatedPolicy {
  /** The policy's name, as clients see it. */
  readonly name: string;
  /** The policy's capacity. */
  readonly limit: number;
  /** Whole units left. */
  readonly remaining: number;
  /** Milliseconds until the policy has fully recovered. */
  readonly resetAfterMs: number;
  /** Milliseconds until the request would pass this policy; `Infinity` if it never can. */
  readonly retryAfterMs: number;
}

/**
 * What a rejection is made from.
 *
 * @example
 * ```ts
 * const context: RejectionContext = { cause: 'rate', nowMs: Date.now(), retryAfterMs: 30_000, policies: [perMinute] };
 * ```
 */
export interface RejectionContext {
  readonly cause: RejectionCause;
  /** The time of the decision (ms since the epoch). */
  readonly nowMs: number;
  /** How long until the request may pass: `Infinity` if it never can, omitted if unknown (a lease). */
  readonly retryAfterMs?: number;
  /** The policies that denied the request. */
  readonly policies?: readonly ViolatedPolicy[];
  /**
   * The concurrency limit of the request's key, how many requests are in flight, and the name of the policy
   * whose limit it is (cause `concurrency`).
   */
  readonly concurrency?: { readonly limit: number; readonly current: number; readonly policy?: string };
}

/**
 * What a function template receives: the {@link RejectionContext} with the response status and the
 * derived wire values.
 *
 * @example
 * ```ts
 * const template = (context: TemplateContext) => ({ error: 'rate_limited', retry_after: context.retryAfter });
 * ```
 */
export interface TemplateContext extends RejectionContext {
  /** The status of the response. */
  readonly status: number;
  readonly policies: readonly ViolatedPolicy[];
  /** Whole seconds to wait, as `Retry-After` says (≥ 1); absent when the wait is infinite or unknown. */
  readonly retryAfter?: number;
  /** `nowMs + retryAfterMs`, ISO 8601 UTC (`2021-02-15T17:13:32.363Z`); absent with `retryAfter`. */
  readonly nextValidRequestDate?: string;
}

/**
 * A JSON value of a template.
 *
 * @example
 * ```ts
 * const value: TemplateJson = { success: false, retryIn: '{retryAfter}' };
 * ```
 */
export type TemplateJson = Scalar | readonly TemplateJson[] | { readonly [key: string]: TemplateJson };
type Scalar = string | number | boolean | null;

/**
 * The body of a rejection: a function whose result is serialised as JSON, or a JSON object or array whose
 * strings may hold `{placeholders}`: `{cause}`, `{status}`, `{retryAfter}`, `{nextValidRequestDate}`,
 * `{policy}` (the name of the violated policy with the longest wait, or of the concurrency policy), `{limit}` and `{remaining}` (that
 * policy's), `{concurrencyLimit}`, `{concurrencyCurrent}`. A string that is one placeholder becomes its
 * value (`"{retryAfter}"` gives the number `30`), and its member is left out when the value is absent (an
 * array item becomes `null`); in longer text a placeholder is replaced by its text (nothing when absent).
 * Member order is kept. An unknown `{name}` is refused; literal text like it needs a function template.
 *
 * @example
 * ```ts
 * const body: RejectionTemplate = { message: 'Too many requests', nextValidRequestDate: '{nextValidRequestDate}' };
 * const fn: RejectionTemplate = (context) => ({ code: context.status, wait: context.retryAfter });
 * ```
 */
export type RejectionTemplate =
  | ((context: TemplateContext) => unknown)
  | { readonly [key: string]: TemplateJson }
  | readonly TemplateJson[];

/**
 * Options of {@link createRejection}. Every field is optional; validated once, at creation.
 *
 * @example
 * ```ts
 * const options: RejectionOptions = { statuses: { concurrency: 409 }, templates: { rate: { success: false } } };
 * ```
 */
export interface RejectionOptions {
  /**
   * The status per cause, integers from 400 to 599.
   * @default { rate: 429, concurrency: 429, shed: 503 }
   * @example { concurrency: 409 }
   */
  readonly statuses?: { readonly [C in RejectionCause]?: number };
  /**
   * The body of every cause without its own entry in `templates`. Without either, the body is an RFC 9457
   * problem (`application/problem+json`).
   * @example { success: false, message: 'Too many attempts.' }
   */
  readonly template?: RejectionTemplate;
  /**
   * The body per cause, over `template`.
   * @example { rate: { message: 'Slow down', retryAfter: '{retryAfter}' } }
   */
  readonly templates?: { readonly [C in RejectionCause]?: RejectionTemplate };
  /**
   * The `Content-Type` of bodies made from a template (the default body is `application/problem+json`).
   * @default 'application/json'
   * @example 'application/json; charset=utf-8'
   */
  readonly contentType?: string;
  /**
   * `compact`: `JSON.stringify` with no spaces. `lines`: one top-level member per line, indented by two
   * spaces, no space after the colon, nested values compact (as some API documents print their bodies).
   * @default 'compact'
   */
  readonly layout?: 'compact' | 'lines';
}

/**
 * A framework-neutral response, for an adapter to write.
 *
 * @example
 * ```ts
 * const { status, headers, body } = reject(context);
 * return new Response(body, { status, headers });
 * ```
 */
export type RejectionResponse = { status: number; headers: [string, string][]; body: string };

/**
 * Builds the response of one rejected request. Never throws for any context, except when a function
 * template throws or returns what JSON cannot carry.
 *
 * @example
 * ```ts
 * const reject: Rejection = createRejection();
 * reject({ cause: 'shed', nowMs: Date.now(), retryAfterMs: 5000 }).status; // 503
 * ```
 */
export type Rejection = (context: RejectionContext) => RejectionResponse;

const CAUSES: readonly RejectionCause[] = ['rate', 'concurrency', 'shed'];
const DEFAULT_STATUS = { rate: 429, concurrency: 429, shed: 503 } as const;
const MEDIA_TYPE = /^[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+(;[\x20-\x7e]*)?$/;

const PLACEHOLDERS = ['cause', 'status', 'retryAfter', 'nextValidRequestDate', 'policy'] as const;
const FIGURES = ['limit', 'remaining', 'concurrencyLimit', 'concurrencyCurrent'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number] | (typeof FIGURES)[number];
const NAMES: readonly string[] = [...PLACEHOLDERS, ...FIGURES];
type Values = Partial<Record<Placeholder, string | number>>;
const OMIT: unique symbol = Symbol('omit'); // an absent value: the member holding it is left out
type Render = (context: TemplateContext) => unknown;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Creates the rejection responses of the HTTP layer. The default body is an RFC 9457 problem whose `type`
 * is `https://iana.org/assignments/http-problem-types#quota-exceeded` (draft-ietf-httpapi-ratelimit-headers
 * §5.1; a concurrency limit is a quota of concurrent requests), or `#temporary-reduced-capacity` (§5.2) for
 * `shed`, with `title` (the draft's), `status`, `detail`, `violated-policies` (the draft's member: names),
 * `policies` (`name`, `limit`, `remaining`, `retryAfter`), `concurrency` (`limit`, `current`) when given,
 * `retryAfter` (whole seconds) and `nextValidRequestDate`, both left out when the wait is infinite or
 * unknown. Only `Content-Type` is set: add the rate limit fields and `Retry-After` with `rateLimitHeaders`.
 *
 * @example
 * ```ts
 * const reject = createRejection({ statuses: { concurrency: 409 } });
 * const policy = { name: 'per-minute', limit: 100, remaining: 0, resetAfterMs: 30_000, retryAfterMs: 30_000 };
 * const { status, body } = reject({ cause: 'rate', nowMs: Date.now(), retryAfterMs: 30_000, policies: [policy] });
 * // 429, {"type":"https://iana.org/assignments/http-problem-types#quota-exceeded",…,"retryAfter":30,…}
 * ```
 */
export function createRejection(options: RejectionOptions = {}): Rejection {
  const opts = optionsObject('options', options);
  knownKeys('createRejection options', opts, ['statuses', 'template', 'templates', 'contentType', 'layout']);
  const statuses = perCause('statuses', opts.statuses);
  const templates = perCause('templates', opts.templates);
  const { contentType = 'application/json', layout = 'compact' } = opts;
  if (typeof contentType !== 'string' || !MEDIA_TYPE.test(contentType))
    fail('contentType', 'a media type such as `application/json`', contentType);
  if (layout !== 'compact' && layout !== 'lines') fail('layout', '`compact` or `lines`', layout);
  const shared = opts.template === undefined ? undefined : compileTemplate('template', opts.template);

  type Plan = { status: number; contentType: string; render: Render; path: string };
  const plans = {} as Record<RejectionCause, Plan>;
  for (const cause of CAUSES) {
    const status = statuses[cause] ?? DEFAULT_STATUS[cause];
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599)
      fail(`statuses.${cause}`, 'an integer from 400 to 599', status);
    const own = templates[cause];
    const path = own === undefined ? 'template' : `templates.${cause}`;
    const render = own === undefined ? shared : compileTemplate(path, own);
    plans[cause] = render
      ? { status, contentType, render, path }
      : { status, contentType: 'application/problem+json', render: problem, path };
  }

  return (context) => {
    const cause: RejectionCause =
      context.cause === 'concurrency' || context.cause === 'shed' ? context.cause : 'rate';
    const plan = plans[cause];
    const full = templateContext(context, cause, plan.status);
    const body = serialise(plan.render(full), layout, plan.path);
    return { status: plan.status, headers: [['Content-Type', plan.contentType]], body };
  };
}

/** A `{ rate?, concurrency?, shed? }` option, refusing other keys with their path. */
function perCause(path: string, value: unknown): Partial<Record<RejectionCause, unknown>> {
  const record = value === undefined ? {} : optionsObject(path, value);
  const key = Object.keys(record).find((k) => !CAUSES.includes(k as RejectionCause));
  if (key === undefined) return record;
  const message = `Unknown cause \`${key}\` in \`${path}\`; expected one of \`rate\`, \`concurrency\`, \`shed\``;
  throw new ConfigError(`${path}.${key}`, message);
}

function templateContext(context: RejectionContext, cause: RejectionCause, status: number): TemplateContext {
  const { nowMs } = context;
  const policies = Array.isArray(context.policies) ? context.policies : [];
  // Built field by field: a caller's stray `retryAfter` must not pass for a derived one.
  const full: Mutable<TemplateContext> = { cause, status, policies, nowMs };
  if (context.retryAfterMs !== undefined) full.retryAfterMs = context.retryAfterMs;
  if (context.concurrency !== undefined) full.concurrency = context.concurrency;
  const retryAfter = seconds(context.retryAfterMs);
  if (retryAfter !== undefined) {
    full.retryAfter = retryAfter;
    // An out-of-range time (or a NaN clock) gives no date rather than a throw from `toISOString`.
    const date = new Date(nowMs + Math.max(0, context.retryAfterMs!));
    if (!Number.isNaN(date.getTime())) full.nextValidRequestDate = date.toISOString();
  }
  return full;
}

function valuesOf(context: TemplateContext): Values {
  // The binding policy: the one with the longest wait, the first on ties.
  let bound: ViolatedPolicy | undefined;
  for (const p of context.policies) if (bound === undefined || p.retryAfterMs > bound.retryAfterMs) bound = p;
  const values: Values = { cause: context.cause, status: context.status };
  const set = (name: Placeholder, value: string | number | undefined) => {
    if (value !== undefined) values[name] = value;
  };
  set('retryAfter', context.retryAfter);
  set('nextValidRequestDate', context.nextValidRequestDate);
  const name = bound === undefined ? context.concurrency?.policy : bound.name;
  set('policy', typeof name === 'string' ? name : undefined);
  set('limit', finite(bound?.limit));
  set('remaining', finite(bound?.remaining));
  set('concurrencyLimit', finite(context.concurrency?.limit));
  set('concurrencyCurrent', finite(context.concurrency?.current));
  return values;
}

/** JSON text of a body; only a function template (named by `path`) can give a value JSON cannot carry. */
function serialise(value: unknown, layout: 'compact' | 'lines', path: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {}
  if (text === undefined) fail(path, 'a function returning a value JSON can carry', value);
  if (layout === 'compact') return text;
  const plain: unknown = JSON.parse(text);
  if (Array.isArray(plain) && plain.length > 0)
    return `[\n${plain.map((v) => `  ${JSON.stringify(v)}`).join(',\n')}\n]`;
  if (typeof plain === 'object' && plain !== null && !Array.isArray(plain)) {
    const members = Object.entries(plain).map(([k, v]) => `  ${JSON.stringify(k)}:${JSON.stringify(v)}`);
    if (members.length > 0) return `{\n${members.join(',\n')}\n}`;
  }
  return text;
}

/** Checks a template once and makes its renderer; a JSON template is copied: later edits do nothing. */
function compileTemplate(path: string, template: unknown): Render {
  if (typeof template === 'function') return (context) => template(context);
  if (typeof template !== 'object' || template === null)
    fail(path, 'a function, or a JSON object or array', template);
  const render = compile(template, path, new Set());
  return (context) => render(valuesOf(context));
}

const PLACEHOLDER = /\{([A-Za-z_$][\w$]*)\}/;

function compile(value: unknown, path: string, ancestors: Set<object>): (values: Values) => unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) fail(path, 'a finite number', value);
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return () => value;
  if (typeof value === 'string') return compileString(value, path);
  if (typeof value !== 'object') fail(path, 'a JSON value', value);
  if (ancestors.has(value)) fail(path, 'a JSON value without cycles', value);
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      // A hole is refused like `undefined`.
      const items = Array.from(value, (_, i) => compile(value[i], `${path}[${i}]`, ancestors));
      return (values) => items.map((item) => item(values)).map((out) => (out === OMIT ? null : out));
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) fail(path, 'a plain object', value);
    const members = Object.entries(value).map(([key, item]) => {
      const at = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      return [key, compile(item, at, ancestors)] as const;
    });
    // `fromEntries` defines own properties: even a `__proto__` member stays a member.
    return (values) =>
      Object.fromEntries(members.map(([key, item]) => [key, item(values)]).filter(([, out]) => out !== OMIT));
  } finally {
    ancestors.delete(value);
  }
}

function compileString(text: string, path: string): (values: Values) => unknown {
  // `split` with a capture group: names at odd indices, literal text at even ones.
  const parts = text.split(new RegExp(PLACEHOLDER, 'g'));
  if (parts.length === 1) return () => text;
  const unknown = parts.find((name, i) => i % 2 === 1 && !NAMES.includes(name));
  if (unknown !== undefined) {
    const known = NAMES.map((name) => `{${name}}`).join(', ');
    fail(path, `a string whose placeholders are among ${known} (\`{${unknown}}\` is not one)`, text);
  }
  const names = parts as Placeholder[];
  if (parts.length === 3 && parts[0] === '' && parts[2] === '') {
    const name = names[1]!;
    return (values) => values[name] ?? OMIT;
  }
  return (values) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) out += i % 2 === 0 ? parts[i] : String(values[names[i]!] ?? '');
    return out;
  };
}
