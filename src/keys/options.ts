import { type Clock, systemClock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import { fail, integerAtLeast, knownKeys, nonEmptyString, optionsObject } from '../internal/describe.js';
import { type IoRedisLike, type NodeRedisLike, type RedisSend, senderOf } from '../store/redis/client.js';
import { defaultLimitMessage } from './errors.js';
import type { FileLockOptions } from './file-lock.js';

/**
 * Options of `createKeyRegistry`. Give exactly one backend: `file` or `redis`.
 *
 * @example
 * ```ts
 * const options: KeyRegistryOptions = { file: '/var/lib/gateway/keys.json', maxActivePerAccount: 6 };
 * ```
 */
export interface KeyRegistryOptions {
  /**
   * Keep keys in this JSON file; several processes may share it (writes take a lock file `<file>.lock`).
   * @example 'keys.json'
   */
  file?: string;
  /**
   * Or keep keys in Redis: an ioredis client, a single-node node-redis client, or a function sending one
   * command (`(args) => client.sendCommand(args)`).
   * @example new Redis(process.env.REDIS_URL)
   */
  redis?: RedisSend | IoRedisLike | NodeRedisLike;
  /**
   * Namespace of the registry's Redis keys, used as their hash tag (`{sluice-keys}:records`). `redis` only.
   * @default 'sluice-keys'
   */
  prefix?: string;
  /**
   * Most active keys an account may have; revoking one frees a slot.
   * @default Infinity (no maximum; the `merchantApiKeys` preset sets 6)
   */
  maxActivePerAccount?: number;
  /**
   * The message of the `KeyLimitError` thrown at the maximum, given the maximum.
   * @default (n) => `You’ve reached your limit of ${n} API keys. Please delete any unused API keys and try again.`
   */
  limitMessage?: (max: number) => string;
  /**
   * Store keys as HMAC-SHA-256 with this secret instead of SHA-256, so a leaked registry cannot even be
   * checked against guesses without the secret. Every registry on the same data needs the same secret.
   * @default undefined (SHA-256)
   */
  secret?: string;
  /** Where `createdAt` and `revokedAt` come from, and the clock of the file reload check. @default Date.now */
  clock?: Clock;
  /** How often, at most, `authenticate` checks the file for changes. `file` only. @default 1000 */
  reloadIntervalMs?: number;
  /** How long a write waits for the lock file. `file` only. @default 5000 */
  lockTimeoutMs?: number;
  /** Age after which a lock file is taken to be left by a crashed writer. `file` only. @default 10000 */
  staleLockMs?: number;
}

/**
 * The options, checked and with their defaults.
 *
 * @example
 * ```ts
 * const { backend, max } = normaliseOptions({ file: 'keys.json' }); // max: Infinity
 * ```
 */
export interface NormalisedOptions {
  readonly backend:
    | {
        readonly kind: 'file';
        readonly path: string;
        readonly reloadIntervalMs: number;
        readonly lock: FileLockOptions;
      }
    | { readonly kind: 'redis'; readonly send: RedisSend; readonly prefix: string };
  readonly max: number;
  readonly limitMessage: (max: number) => string;
  readonly secret: string | undefined;
  readonly clock: Clock;
}

const FILE_ONLY = ['reloadIntervalMs', 'lockTimeoutMs', 'staleLockMs'] as const;

/**
 * Checks the options of `createKeyRegistry` in one place; errors name the option and what it got.
 *
 * @example
 * ```ts
 * normaliseOptions({ file: 'keys.json', maxActivePerAccount: 0 });
 * // ConfigError: Expected `maxActivePerAccount` to be an integer ≥ 1, got `0` (number)
 * ```
 */
export function normaliseOptions(options: unknown): NormalisedOptions {
  const o = optionsObject('options', options);
  knownKeys('createKeyRegistry()', o, [
    'file',
    'redis',
    'prefix',
    'maxActivePerAccount',
    'limitMessage',
    'secret',
    'clock',
    ...FILE_ONLY,
  ]);
  if ((o.file === undefined) === (o.redis === undefined)) {
    throw new ConfigError('file', 'Give exactly one of `file` and `redis` to createKeyRegistry()');
  }
  const max = o.maxActivePerAccount ?? Number.POSITIVE_INFINITY;
  if (max !== Number.POSITIVE_INFINITY) integerAtLeast('maxActivePerAccount', max, 1);
  if (o.limitMessage !== undefined && typeof o.limitMessage !== 'function')
    fail('limitMessage', 'a function (max: number) => string', o.limitMessage);
  if (o.secret !== undefined) nonEmptyString('secret', o.secret);
  if (o.clock !== undefined && typeof o.clock !== 'function') fail('clock', 'a function () => ms', o.clock);
  const common = {
    max: max as number,
    limitMessage: (o.limitMessage as ((max: number) => string) | undefined) ?? defaultLimitMessage,
    secret: o.secret as string | undefined,
    clock: (o.clock as Clock | undefined) ?? systemClock,
  };
  if (o.file !== undefined) {
    if (o.prefix !== undefined)
      throw new ConfigError('prefix', '`prefix` applies to the `redis` backend only');
    return {
      ...common,
      backend: {
        kind: 'file',
        path: nonEmptyString('file', o.file),
        reloadIntervalMs: msAtLeast('reloadIntervalMs', o.reloadIntervalMs ?? 1000, 0),
        lock: {
          timeoutMs: msAtLeast('lockTimeoutMs', o.lockTimeoutMs ?? 5000, 1),
          staleMs: msAtLeast('staleLockMs', o.staleLockMs ?? 10_000, 1),
        },
      },
    };
  }
  for (const name of FILE_ONLY) {
    if (o[name] !== undefined)
      throw new ConfigError(name, `\`${name}\` applies to the \`file\` backend only`);
  }
  const prefix = nonEmptyString('prefix', o.prefix ?? 'sluice-keys');
  if (/[{}]/.test(prefix)) fail('prefix', 'a string without `{` or `}` (it becomes a hash tag)', prefix);
  return { ...common, backend: { kind: 'redis', send: redisSender(o.redis), prefix } };
}

/** A finite number of ms ≥ `min`. */
function msAtLeast(path: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min)
    fail(path, `a number of ms ≥ ${min}`, value);
  return value;
}

/** The send function of the `redis` option, whichever form it was given in. */
function redisSender(value: unknown): RedisSend {
  if (typeof value === 'function') return value as RedisSend;
  try {
    return senderOf(value, undefined);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail('redis', 'an ioredis client, a single-node node-redis client or a send function', value);
  }
}
