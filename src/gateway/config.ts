import { existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { type Duration, parsePositiveDuration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { type ClientIpOptions, createClientIp } from '../http/client-ip.js';
import type { HeaderOptions } from '../http/headers.js';
import { createRejection, type RejectionOptions } from '../http/rejection.js';
import { fail, integerAtLeast, knownKeys, nonEmptyString, optionsObject } from '../internal/describe.js';
import { parsePolicies } from '../policy/config.js';
import type { PolicySet } from '../policy/types.js';
import { presetOf } from '../presets/index.js';

/**
 * Where the gateway keeps its counters: the in-memory store (one process), or Redis (several gateway
 * instances share their limits).
 *
 * @example
 * ```ts
 * const store: GatewayStoreConfig = { type: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'sluice', failureMode: 'fallback', timeoutMs: 50 };
 * ```
 */
export type GatewayStoreConfig =
  | { readonly type: 'memory'; readonly maxKeys?: number }
  | {
      readonly type: 'redis';
      readonly url: string;
      readonly prefix: string;
      /** What decides while Redis is unreachable: a local store (`fallback`), allow (`open`) or deny (`closed`). */
      readonly failureMode: 'fallback' | 'open' | 'closed';
      readonly timeoutMs: number;
    };

/**
 * A validated gateway configuration.
 *
 * @example
 * ```ts
 * const config: GatewayConfig = parseGatewayConfig({ upstream: { url: 'http://127.0.0.1:3000' }, preset: 'sales-data' });
 * ```
 */
export interface GatewayConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly upstream: {
    readonly url: string;
    /** Time allowed for the upstream's response headers, and between body chunks. */
    readonly timeoutMs: number;
    /** Keep-alive connections to the upstream. */
    readonly connections: number;
  };
  /** The admin endpoint (`/healthz`, `/readyz`, `/metrics`), on its own port; absent: none. */
  readonly admin: { readonly host: string; readonly port: number } | undefined;
  readonly store: GatewayStoreConfig;
  readonly environment: string | undefined;
  /** The preset the configuration builds on, if any. */
  readonly preset: string | undefined;
  readonly policies: PolicySet;
  readonly headers: HeaderOptions;
  readonly rejection: RejectionOptions;
  readonly clientIp: ClientIpOptions;
  /** API keys: callers must present a key the registry knows; absent: no authentication. */
  readonly keys:
    | {
        /** The registry: a key file (`sluice keys --file`), or Redis (`sluice keys --redis`). */
        readonly file: string | undefined;
        readonly redis: { readonly url: string; readonly prefix: string | undefined } | undefined;
        /** The request header carrying the key. */
        readonly header: string;
        readonly maxActivePerAccount: number | undefined;
      }
    | undefined;
  /** How long a graceful shutdown waits for requests in flight. */
  readonly shutdownTimeoutMs: number;
}

const TOP = [
  '$schema',
  'listen',
  'upstream',
  'admin',
  'store',
  'environment',
  'preset',
  'policies',
  'headers',
  'rejection',
  'clientIp',
  'keys',
  'shutdownTimeout',
] as const;

const duration = (path: string, value: unknown, fallback: Duration): number =>
  parsePositiveDuration((value ?? fallback) as Duration, path);

function port(path: string, value: unknown, fallback: number): number {
  const n = integerAtLeast(path, value ?? fallback, 0);
  if (n > 65_535) fail(path, 'a port number from 0 to 65535', value);
  return n;
}

function address(path: string, value: unknown, fallback: { host: string; port: number }) {
  if (value === undefined) return fallback;
  const o = optionsObject(path, value);
  knownKeys(path, o, ['host', 'port']);
  return {
    host: o.host === undefined ? fallback.host : nonEmptyString(`${path}.host`, o.host),
    port: port(`${path}.port`, o.port, fallback.port),
  };
}

function httpUrl(path: string, value: unknown, protocols: readonly string[]): string {
  const text = nonEmptyString(path, value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(path, `a URL like "${protocols[0]}//127.0.0.1:3000"`, value);
  }
  if (!protocols.includes(url.protocol)) fail(path, `a ${protocols.join(' or ')} URL`, value);
  return text;
}

function storeOf(value: unknown): GatewayStoreConfig {
  if (value === undefined) return { type: 'memory' };
  const o = optionsObject('store', value);
  if (o.type === 'memory' || o.type === undefined) {
    knownKeys('store', o, ['type', 'maxKeys']);
    return o.maxKeys === undefined
      ? { type: 'memory' }
      : { type: 'memory', maxKeys: integerAtLeast('store.maxKeys', o.maxKeys, 1) };
  }
  if (o.type !== 'redis') fail('store.type', '"memory" or "redis"', o.type);
  knownKeys('store', o, ['type', 'url', 'prefix', 'failureMode', 'timeout']);
  const failureMode = o.failureMode ?? 'fallback';
  if (failureMode !== 'fallback' && failureMode !== 'open' && failureMode !== 'closed')
    fail('store.failureMode', '"fallback", "open" or "closed"', failureMode);
  return {
    type: 'redis',
    url: httpUrl('store.url', o.url, ['redis:', 'rediss:']),
    prefix: o.prefix === undefined ? 'sluice' : nonEmptyString('store.prefix', o.prefix),
    failureMode,
    timeoutMs: duration('store.timeout', o.timeout, '50ms'),
  };
}

/** An options object merged over the preset's, then validated by `check` with its paths under `path`. */
function passThrough<T>(
  path: string,
  value: unknown,
  fallback: T | undefined,
  check: (options: T) => void,
): T {
  const merged = (
    value === undefined ? (fallback ?? {}) : { ...(fallback ?? {}), ...optionsObject(path, value) }
  ) as T;
  try {
    check(merged);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const inner = error.path === 'config' || error.path === '' ? path : `${path}.${error.path}`;
    throw new ConfigError(inner, error.message.replaceAll(`\`${error.path}\``, `\`${inner}\``), {
      cause: error,
    });
  }
  return merged;
}

const PROFILES = ['ietf', 'draft-7', 'draft-6', 'legacy'];

/** Validates header options (`rateLimitHeaders` takes them as they are, on the hot path). */
function checkHeaders(options: HeaderOptions) {
  const o = optionsObject('headers', options);
  knownKeys('headers', o, [
    'profiles',
    'legacyNames',
    'retryAfterTimestamp',
    'concurrencyNames',
    'retryAfter',
  ]);
  if (o.profiles !== undefined) {
    if (!Array.isArray(o.profiles)) fail('profiles', `a list of ${PROFILES.join(', ')}`, o.profiles);
    o.profiles.forEach((p: unknown, i) => {
      if (!PROFILES.includes(p as string)) fail(`profiles[${i}]`, `one of ${PROFILES.join(', ')}`, p);
    });
  }
  if (o.legacyNames !== undefined) {
    const names = optionsObject('legacyNames', o.legacyNames);
    knownKeys('legacyNames', names, ['limit', 'remaining', 'reset']);
    for (const [k, v] of Object.entries(names))
      if (v !== false && (typeof v !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v)))
        fail(`legacyNames.${k}`, 'a header name or false', v);
  }
  if (o.retryAfterTimestamp !== undefined) nonEmptyString('retryAfterTimestamp', o.retryAfterTimestamp);
  if (o.concurrencyNames !== undefined) {
    const names = optionsObject('concurrencyNames', o.concurrencyNames);
    knownKeys('concurrencyNames', names, ['limit', 'current']);
    nonEmptyString('concurrencyNames.limit', names.limit);
    nonEmptyString('concurrencyNames.current', names.current);
  }
  if (o.retryAfter !== undefined && typeof o.retryAfter !== 'boolean')
    fail('retryAfter', 'a boolean', o.retryAfter);
}

/**
 * Validates a gateway configuration (the parsed YAML or JSON). Every error names the path at fault and what
 * was expected. A `preset` contributes its policies (before the file's own), header fields, rejection bodies
 * and client-IP settings; the file's `headers`, `rejection` and `clientIp` override the preset's member by
 * member. `environment` overrides the file's.
 *
 * @example
 * ```ts
 * const config = parseGatewayConfig({
 *   upstream: { url: 'http://127.0.0.1:3000' },
 *   policies: [{ name: 'per-ip', key: 'ip', limits: [{ type: 'fixedWindow', limit: 100, window: '1m' }] }],
 * });
 * ```
 */
export function parseGatewayConfig(raw: unknown, environment?: string): GatewayConfig {
  const o = optionsObject('config', raw);
  knownKeys('config', o, TOP);
  const preset = o.preset === undefined ? undefined : presetOf(nonEmptyString('preset', o.preset));
  const env =
    environment ??
    (o.environment === undefined ? preset?.defaultEnvironment : nonEmptyString('environment', o.environment));
  const own = o.policies === undefined ? [] : o.policies;
  if (!Array.isArray(own)) fail('policies', 'a list of policies', own);
  const inherited = (preset?.config.policies ?? []) as unknown[];
  if (inherited.length + own.length === 0)
    throw new ConfigError(
      'policies',
      'The configuration has no `policies` and no `preset`: it would limit nothing',
    );
  let policies: PolicySet;
  try {
    policies = parsePolicies({ policies: [...inherited, ...own] }, env);
  } catch (error) {
    // Paths inside the combined list are shifted by the preset's policies: name them as the file has them.
    if (error instanceof ConfigError && inherited.length > 0) {
      const at = /^policies\[(\d+)\]/.exec(error.path);
      const index = at === null ? -1 : Number(at[1]) - inherited.length;
      if (index >= 0) {
        const path = error.path.replace(/^policies\[\d+\]/, `policies[${index}]`);
        throw new ConfigError(path, error.message.replaceAll(error.path, path), { cause: error });
      }
    }
    throw error;
  }

  const upstreamRaw = optionsObject('upstream', o.upstream);
  knownKeys('upstream', upstreamRaw, ['url', 'timeout', 'connections']);
  const keysRaw = o.keys === undefined ? undefined : optionsObject('keys', o.keys);
  if (keysRaw !== undefined) {
    knownKeys('keys', keysRaw, ['file', 'redis', 'prefix', 'header', 'maxActivePerAccount']);
    if ((keysRaw.file === undefined) === (keysRaw.redis === undefined))
      fail('keys', 'exactly one of `file` (a key file) or `redis` (a redis:// URL)', keysRaw);
  }

  return {
    listen: address('listen', o.listen, { host: '127.0.0.1', port: 8080 }),
    upstream: {
      url: httpUrl('upstream.url', upstreamRaw.url, ['http:', 'https:']),
      timeoutMs: duration('upstream.timeout', upstreamRaw.timeout, '30s'),
      connections: integerAtLeast('upstream.connections', upstreamRaw.connections ?? 64, 1),
    },
    admin: o.admin === undefined ? undefined : address('admin', o.admin, { host: '127.0.0.1', port: 9090 }),
    store: storeOf(o.store),
    environment: env,
    preset: preset?.name,
    policies,
    headers: passThrough<HeaderOptions>('headers', o.headers, preset?.headers, checkHeaders),
    rejection: passThrough<RejectionOptions>('rejection', o.rejection, preset?.rejection, createRejection),
    clientIp: passThrough<ClientIpOptions>('clientIp', o.clientIp, preset?.clientIp, (c) =>
      createClientIp({ ...c, warnings: false }),
    ),
    keys:
      keysRaw === undefined
        ? undefined
        : {
            file: keysRaw.file === undefined ? undefined : nonEmptyString('keys.file', keysRaw.file),
            redis:
              keysRaw.redis === undefined
                ? undefined
                : {
                    url: httpUrl('keys.redis', keysRaw.redis, ['redis:', 'rediss:']),
                    prefix:
                      keysRaw.prefix === undefined
                        ? undefined
                        : nonEmptyString('keys.prefix', keysRaw.prefix),
                  },
            header:
              keysRaw.header === undefined
                ? 'x-api-key'
                : nonEmptyString('keys.header', keysRaw.header).toLowerCase(),
            maxActivePerAccount:
              keysRaw.maxActivePerAccount === undefined
                ? preset?.keys?.maxActivePerAccount
                : integerAtLeast('keys.maxActivePerAccount', keysRaw.maxActivePerAccount, 1),
          },
    shutdownTimeoutMs: duration('shutdownTimeout', o.shutdownTimeout, '10s'),
  };
}

/**
 * Parses and validates a gateway configuration written in YAML or JSON.
 *
 * @example
 * ```ts
 * const config = loadGatewayConfig(readFileSync('sluice.yaml', 'utf8'));
 * ```
 */
export function loadGatewayConfig(text: string, environment?: string): GatewayConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ConfigError(
      'config',
      `The configuration is not valid YAML or JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return parseGatewayConfig(raw, environment);
}

/**
 * Policies keyed by the caller (`user`, `account`) need the gateway to know who calls: API keys (`keys`)
 * or an `authenticate` function. Without either, every caller would share one budget: a `ConfigError`. A
 * key file that does not exist is one too (every request would get 401).
 *
 * @example
 * ```ts
 * requireCallers(config, false); // throws when a policy is keyed by user or account and `keys` is absent
 * ```
 */
export function requireCallers(config: GatewayConfig, authenticates: boolean) {
  if (config.keys?.file !== undefined && !existsSync(config.keys.file))
    fail('keys.file', 'an API key file made by `sluice keys create --file …`', config.keys.file);
  if (authenticates || config.keys !== undefined) return;
  const needing = config.policies.policies.find((p) => p.key.includes('user') || p.key.includes('account'));
  if (needing !== undefined)
    throw new ConfigError(
      'keys',
      `Policy \`${needing.name}\` is keyed by the caller (user or account), but the gateway does not know callers: add \`keys: { file }\` or \`keys: { redis }\` (API keys), or every caller would share one budget`,
    );
}
