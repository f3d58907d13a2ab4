import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { fail, knownKeys, optionsObject } from '../internal/describe.js';
import { keyedHash } from '../internal/hash.js';
import type { PolicyMode } from '../policy/types.js';
import type { Verdict } from '../policy/verdict.js';
import { type PolicyOutcome, policyOutcome } from './metrics.js';

/**
 * Options of {@link createGatewayLogger}.
 *
 * @example
 * ```ts
 * const options: GatewayLoggerOptions = { level: 'warn', destination: pino.destination(2) };
 * ```
 */
export interface GatewayLoggerOptions {
  /**
   * The lowest level written: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.
   * @default 'info'
   * @example 'debug'
   */
  readonly level?: string;
  /**
   * Where the JSON lines go.
   * @default process.stdout
   * @example pino.destination({ dest: '/var/log/gateway.log', sync: false })
   */
  readonly destination?: pino.DestinationStream | NodeJS.WritableStream;
  /**
   * `false` turns logging off altogether.
   * @default true
   */
  readonly enabled?: boolean;
}

/**
 * What {@link decisionLogFields} is made from: one request the gateway answered.
 *
 * @example
 * ```ts
 * const input: DecisionLogInput = { requestId, method: 'GET', path: req.url!, status: 200, verdict, durationMs: 3.2 };
 * ```
 */
export interface DecisionLogInput {
  /** The request's id (see {@link requestIdOf}). */
  readonly requestId: string;
  /** The request's method, as received. */
  readonly method: string;
  /** The request target; its query string (and fragment) is left out of the log. */
  readonly path: string;
  /** The status of the response sent. */
  readonly status: number;
  /** The enforcer's verdict; absent when the request was answered before enforcement (e.g. a 401). */
  readonly verdict?: Verdict;
  /** Time from the request to the response, in milliseconds. */
  readonly durationMs: number;
  /**
   * A deployment secret: keys are then logged as an HMAC rather than a plain SHA-256, which cannot be
   * brute-forced back to an IP address.
   * @example process.env.SLUICE_LOG_SECRET
   */
  readonly keySecret?: string;
}

/**
 * One applied policy, as logged: its key hashed, never raw.
 *
 * @example
 * ```ts
 * const logged: LoggedPolicy = { name: 'per-ip', mode: 'enforce', keyHash: 'q3Xw0n1bY7dZk2Pa', outcome: 'allowed' };
 * ```
 */
export interface LoggedPolicy {
  /** The policy's name. */
  readonly name: string;
  /** The policy's mode in force. */
  readonly mode: Exclude<PolicyMode, 'off'>;
  /** SHA-256 (or HMAC) of the policy's key, base64url, first 16 characters. */
  readonly keyHash: string;
  /** Absent when the policy was not decided (another turned the request away first). */
  readonly outcome?: PolicyOutcome;
}

/**
 * The log fields of one decided request, made by {@link decisionLogFields}.
 *
 * @example
 * ```ts
 * const fields: DecisionLogFields = decisionLogFields(input);
 * log.info(fields, 'request');
 * ```
 */
export interface DecisionLogFields {
  /** The request's id. */
  readonly requestId: string;
  /** The request's method. */
  readonly method: string;
  /** The path, without its query string. */
  readonly path: string;
  /** The status of the response sent. */
  readonly status: number;
  /** `allowed` or `rejected` by the verdict; `unchecked` without one. */
  readonly outcome: 'allowed' | 'rejected' | 'unchecked';
  /** The applied policies, in the enforcer's order. */
  readonly policies: readonly LoggedPolicy[];
  /** The least `remaining` of the enforcing policies' decisions: the binding one. */
  readonly remaining?: number;
  /** Time from the request to the response, in milliseconds (rounded to the microsecond). */
  readonly durationMs: number;
}

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const QUERY_OR_FRAGMENT = /[?#]/;
const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];
/** Redaction paths of the secret headers in logged header objects: `req.headers["x-api-key"]`. */
const REDACTED = ['req.headers', 'headers'].flatMap((at) => SECRET_HEADERS.map((name) => `${at}["${name}"]`));

/**
 * Creates the gateway's logger: pino, one JSON object per line. Credentials in logged header objects
 * (`req.headers`, `headers`: `authorization`, `cookie`, `x-api-key` …) are redacted.
 *
 * @example
 * ```ts
 * const log = createGatewayLogger({ level: process.env.LOG_LEVEL ?? 'info' });
 * log.info(decisionLogFields({ requestId, method, path, status, verdict, durationMs }), 'request');
 * ```
 */
export function createGatewayLogger(options: GatewayLoggerOptions = {}): pino.Logger {
  const o = optionsObject('createGatewayLogger options', options);
  knownKeys('createGatewayLogger()', o, ['level', 'destination', 'enabled']);
  const level = o.level ?? 'info';
  if (typeof level !== 'string' || !LEVELS.includes(level))
    fail('level', `one of ${LEVELS.map((l) => `"${l}"`).join(', ')}`, o.level);
  if (o.enabled !== undefined && typeof o.enabled !== 'boolean') fail('enabled', 'a boolean', o.enabled);
  const destination = o.destination as pino.DestinationStream | undefined;
  if (destination !== undefined && typeof destination?.write !== 'function')
    fail('destination', 'a writable stream (with a write method)', o.destination);
  const settings: pino.LoggerOptions = {
    level,
    enabled: o.enabled !== false,
    redact: {
      paths: REDACTED,
      censor: '[redacted]',
    },
  };
  // Standard output, buffered (4 KiB) and written asynchronously: one line per request must not cost a
  // system call per request. `logger.flush()` empties the buffer (the gateway does so when it stops).
  return pino(settings, destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }));
}

const hasherOf = (secret: string | undefined) => {
  const hash = keyedHash(secret);
  return (key: string) => hash(key).slice(0, 16);
};

// The hasher of the last secret seen: a process logs with one secret, so it is made once, not per line.
let lastSecret: string | undefined;
let lastHasher = hasherOf(undefined);
const hasherFor = (secret: string | undefined) => {
  if (secret !== lastSecret) {
    lastHasher = hasherOf(secret);
    lastSecret = secret;
  }
  return lastHasher;
};

/** The target without its query string and fragment. */
const pathOf = (target: string): string => {
  const end = target.search(QUERY_OR_FRAGMENT);
  return end === -1 ? target : target.slice(0, end);
};

/**
 * The log fields of one request: its id, method, path without the query string, status, outcome, the
 * applied policies' names, modes and outcomes with each key hashed (a key may hold an IP address or a user
 * id: personal data, never logged raw), and the binding `remaining`.
 *
 * @example
 * ```ts
 * res.on('finish', () => {
 *   const durationMs = performance.now() - started;
 *   log.info(decisionLogFields({ requestId, method: req.method!, path: req.url!, status: res.statusCode, verdict, durationMs }), 'request');
 * });
 * ```
 */
export function decisionLogFields(input: DecisionLogInput): DecisionLogFields {
  const { requestId, method, status, verdict, durationMs } = input;
  const hash = hasherFor(input.keySecret);
  const policies: LoggedPolicy[] = [];
  let remaining = Number.POSITIVE_INFINITY;
  if (verdict !== undefined)
    for (const applied of verdict.applied) {
      const outcome = policyOutcome(applied);
      const name = applied.policy.name;
      const mode = applied.mode;
      const keyHash = hash(applied.key);
      policies.push(outcome === undefined ? { name, mode, keyHash } : { name, mode, keyHash, outcome });
      if (mode === 'enforce')
        for (const d of applied.decisions) if (d.remaining < remaining) remaining = d.remaining;
    }
  const fields: { -readonly [K in keyof DecisionLogFields]: DecisionLogFields[K] } = {
    requestId,
    method,
    path: pathOf(input.path),
    status,
    outcome: verdict === undefined ? 'unchecked' : verdict.allowed ? 'allowed' : 'rejected',
    policies,
    durationMs: Math.round(durationMs * 1000) / 1000,
  };
  if (remaining !== Number.POSITIVE_INFINITY) fields.remaining = remaining;
  return fields;
}

/**
 * The request id: the incoming `x-request-id` when it is sane (1 to 128 visible ASCII characters, no
 * spaces or control characters: nothing that could forge a log line), else a fresh `crypto.randomUUID()`.
 *
 * @example
 * ```ts
 * const requestId = requestIdOf(req.headers);
 * res.setHeader('x-request-id', requestId);
 * ```
 */
export function requestIdOf(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
): string {
  const given = headers['x-request-id'];
  const value = typeof given === 'string' ? given : given?.[0];
  return value !== undefined && REQUEST_ID.test(value) ? value : randomUUID();
}
