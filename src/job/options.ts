import { createBackoff, type NormalizedBackoff } from '../client/backoff.js';
import { type Clock, type Sleep, systemClock, systemSleep } from '../core/clock.js';
import { parsePositiveDuration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { fail, integerAtLeast, knownKeys, nonEmptyString, optionsObject } from '../internal/describe.js';
import type { IoRedisLike } from '../store/redis/client.js';
import type { JobOptions, JobOutput } from './types.js';

type Target = { readonly file: string } | { readonly redis: string | IoRedisLike; readonly key: string };

/** {@link JobOptions} checked, with defaults applied. */
export interface ResolvedJobOptions<T> {
  readonly name: string;
  readonly items: JobOptions<T>['items'];
  readonly source: JobOptions<T>['source'];
  readonly process: JobOptions<T>['process'];
  readonly id: (item: T) => string;
  readonly concurrency: number;
  readonly batchSize: number;
  readonly ordered: boolean;
  readonly checkpoint: Target | undefined;
  readonly lock: (Target & { readonly ttlMs: number }) | undefined;
  readonly attempts: number;
  readonly backoff: NormalizedBackoff;
  readonly stopOnError: boolean;
  readonly clearDeadLetters: boolean;
  readonly onProgress: JobOptions<T>['onProgress'];
  readonly onDone: JobOptions<T>['onDone'];
  readonly mergeCursor: (previous: unknown, next: unknown) => unknown;
  readonly onConfirm: JobOptions<T>['onConfirm'];
  readonly signal: AbortSignal | undefined;
  readonly total: number | undefined;
  readonly client: JobOptions<T>['client'];
  readonly output: JobOutput | undefined;
  readonly progressIntervalMs: number;
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly random: () => number;
}

const OPTIONS = [
  'name',
  'items',
  'source',
  'process',
  'id',
  'concurrency',
  'batchSize',
  'ordered',
  'checkpoint',
  'lock',
  'retry',
  'stopOnError',
  'clearDeadLetters',
  'onProgress',
  'onDone',
  'mergeCursor',
  'onConfirm',
  'signal',
  'total',
  'client',
  'output',
  'progressInterval',
  'clock',
  'sleep',
  'random',
] as const;

const fn = <F>(path: string, value: unknown, what: string): F => {
  if (typeof value !== 'function') fail(path, what, value);
  return value as F;
};
const optionalFn = <F>(path: string, value: unknown, what: string): F | undefined =>
  value === undefined ? undefined : fn<F>(path, value, what);

/** `{ file }` or `{ redis, key }` (plus `extra` keys allowed). */
function target(path: string, value: unknown, extra: readonly string[] = []): Target {
  const raw = optionsObject(path, value);
  if ('file' in raw) {
    knownKeys(`\`${path}\``, raw, ['file', ...extra]);
    return { file: nonEmptyString(`${path}.file`, raw.file) };
  }
  if (!('redis' in raw)) fail(path, '{ file } or { redis, key }', value);
  knownKeys(`\`${path}\``, raw, ['redis', 'key', ...extra]);
  const redis = raw.redis;
  if (typeof redis === 'string') {
    if (!/^rediss?:\/\//.test(redis)) fail(`${path}.redis`, 'a URL redis://host:port or a client', redis);
  } else if (typeof (redis as IoRedisLike | null)?.call !== 'function') {
    fail(`${path}.redis`, 'a URL redis://host:port or an ioredis client', redis);
  }
  return { redis: redis as string | IoRedisLike, key: nonEmptyString(`${path}.key`, raw.key) };
}

/**
 * Checks {@link JobOptions} once; a `ConfigError` names the option at fault by its path
 * (`checkpoint.key`, `retry.attempts`).
 */
export function resolveJobOptions<T>(options: JobOptions<T>): ResolvedJobOptions<T> {
  const raw = optionsObject('options', options);
  knownKeys('runJob() options', raw, OPTIONS);
  const name = nonEmptyString('name', raw.name);
  if (!/^[\w.-]+$/.test(name)) fail('name', 'a name of letters, digits, `.`, `_` and `-`', name);
  if ((raw.items === undefined) === (raw.source === undefined))
    throw new ConfigError('items', 'Give exactly one of `items` and `source` to runJob()');
  const items = raw.items as JobOptions<T>['items'];
  if (items !== undefined && typeof items !== 'function' && !isIterable(items))
    fail('items', 'an iterable, an async iterable or a function returning one', items);
  const checkpoint =
    raw.checkpoint === false
      ? undefined
      : raw.checkpoint === undefined
        ? { file: `${name}.checkpoint.json` }
        : target('checkpoint', raw.checkpoint);
  let lock: ResolvedJobOptions<T>['lock'];
  if (raw.lock !== false) {
    const given = raw.lock === undefined ? undefined : optionsObject('lock', raw.lock);
    const ttlMs = parsePositiveDuration(given?.ttl ?? '30s', 'lock.ttl');
    if (ttlMs < 300) fail('lock.ttl', 'at least 300 ms', given?.ttl);
    const where: Target | undefined =
      given !== undefined
        ? target('lock', given, ['ttl'])
        : checkpoint === undefined
          ? undefined
          : 'file' in checkpoint
            ? { file: `${checkpoint.file}.lock` }
            : { redis: checkpoint.redis, key: `${checkpoint.key}:lock` };
    lock = where === undefined ? undefined : { ...where, ttlMs };
  }
  const retry = optionsObject('retry', raw.retry ?? {});
  knownKeys('`retry`', retry, ['attempts', 'backoff']);
  let backoff: NormalizedBackoff;
  try {
    backoff = createBackoff((retry.backoff ?? { base: '1s', cap: '30s' }) as never);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const path = error.path === 'backoff' ? 'retry.backoff' : `retry.backoff.${error.path}`;
    throw new ConfigError(path, error.message.replace(`\`${error.path}\``, `\`${path}\``));
  }
  const output = raw.output;
  if (output !== undefined && output !== false && typeof (output as JobOutput | null)?.write !== 'function')
    fail('output', 'a stream with write(text), or false', output);
  const total = raw.total === undefined ? undefined : integerAtLeast('total', raw.total, 0);
  return {
    name,
    items,
    source: optionalFn('source', raw.source, 'a function ({ cursor }) => iterable'),
    process: fn('process', raw.process, 'a function (item, context) => Promise<void>'),
    id: fn('id', raw.id, 'a function (item) => string (a stable item id)'),
    concurrency: integerAtLeast('concurrency', raw.concurrency ?? 4, 1),
    batchSize: integerAtLeast('batchSize', raw.batchSize ?? 1, 1),
    // A source is incremental, often live and paginated: ids, not positions (see `JobOptions.ordered`).
    ordered: bool('ordered', raw.ordered, raw.source === undefined),
    checkpoint,
    lock,
    attempts: integerAtLeast('retry.attempts', retry.attempts ?? 3, 1),
    backoff,
    stopOnError: bool('stopOnError', raw.stopOnError, false),
    clearDeadLetters: bool('clearDeadLetters', raw.clearDeadLetters, false),
    onProgress: optionalFn('onProgress', raw.onProgress, 'a function (status) => void'),
    onDone: optionalFn('onDone', raw.onDone, 'a function (summary) => cursor'),
    mergeCursor:
      optionalFn<(previous: unknown, next: unknown) => unknown>(
        'mergeCursor',
        raw.mergeCursor,
        'a function (previous, next) => cursor',
      ) ?? ((_: unknown, next: unknown) => next),
    onConfirm: optionalFn('onConfirm', raw.onConfirm, 'a function (ids) => void'),
    signal: abortSignal(raw.signal),
    total: total ?? sizeOf(items),
    client: raw.client as JobOptions<T>['client'],
    output: output === false ? undefined : output === undefined ? process.stderr : (output as JobOutput),
    progressIntervalMs: parsePositiveDuration(raw.progressInterval ?? '10s', 'progressInterval'),
    clock: (optionalFn('clock', raw.clock, 'a function () => ms') as Clock | undefined) ?? systemClock,
    sleep:
      (optionalFn('sleep', raw.sleep, 'a function (ms, signal) => Promise') as Sleep | undefined) ??
      systemSleep,
    random: optionalFn('random', raw.random, 'a function () => [0, 1)') ?? Math.random,
  };
}

function bool(path: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(path, 'a boolean', value);
  return value;
}

function abortSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) fail('signal', 'an AbortSignal', value);
  return value;
}

const isIterable = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && (Symbol.iterator in value || Symbol.asyncIterator in value);

/** An array's length or a set's (or map's) size. */
function sizeOf(items: unknown): number | undefined {
  if (Array.isArray(items)) return items.length;
  const size = (items as { size?: unknown } | undefined)?.size;
  return typeof size === 'number' ? size : undefined;
}
