import { type Clock, type Sleep, systemClock, systemSleep } from '../core/clock.js';
import { type Duration, parseDuration, parsePositiveDuration } from '../core/duration.js';
import type { Limit } from '../core/limits.js';
import { fail, knownKeys, optionsObject } from '../internal/describe.js';
import type { Store } from '../store/types.js';

/**
 * Options of {@link createScheduler}.
 *
 * @example
 * ```ts
 * const options: SchedulerOptions = {
 *   limits: [tokenBucket({ rate: 10, burst: 60 })],
 *   concurrency: 4,
 *   maxQueue: 1000,
 *   maxWait: '30s',
 * };
 * ```
 */
export interface SchedulerOptions {
  /**
   * Limits that must all allow a task before it starts; a task's `cost` is taken from each when it starts.
   * @default []
   * @example [tokenBucket({ rate: 10, per: '1s', burst: 60 }), fixedWindow({ limit: 10_000, window: '1d' })]
   */
  limits?: readonly Limit[];
  /**
   * Most tasks running at once: an integer ≥ 1, or `Infinity`.
   * @default Infinity
   * @example 4
   */
  concurrency?: number;
  /**
   * Most tasks waiting at once; one more is rejected with `QueueFullError`. An integer ≥ 0, or `Infinity`.
   * @default Infinity
   * @example 1000
   */
  maxQueue?: number;
  /**
   * Longest a task may wait without starting before it is rejected with `QueueTimeoutError`.
   * @default Infinity
   * @example '30s'
   */
  maxWait?: Duration;
  /**
   * A shared budget: the limits, the concurrency (through leases of at most `leaseTtl` each) and the gate
   * live in `store` under `key`, so that every scheduler given the same store and key draws from one
   * budget: clients in one process with a memory store, processes and hosts with a Redis store (on
   * Redis's clock). Each start then costs a few store calls (gate, lease, limits).
   * @default none: the limits live in the scheduler's own memory
   * @example { store: createRedisStore({ client: redis }), key: 'erp-sync:orders' }
   */
  budget?: { store: Store; key: string; leaseTtl?: Duration };
  /**
   * The scheduler's clock.
   * @default Date.now
   * @example createManualClock(0).now
   */
  clock?: Clock;
  /**
   * How the scheduler waits for a limit, the gate or `maxWait`; must reject when its signal aborts.
   * @default a timer (`systemSleep`)
   * @example createManualClock(0).sleep
   */
  sleep?: Sleep;
}

/**
 * The options of a scheduler after validation and defaults, made by {@link resolveSchedulerOptions}.
 *
 * @example
 * ```ts
 * const resolved: ResolvedSchedulerOptions = resolveSchedulerOptions({ maxWait: '30s' });
 * resolved.maxWaitMs; // 30000
 * ```
 */
export interface ResolvedSchedulerOptions {
  readonly limits: readonly Limit[];
  readonly concurrency: number;
  readonly maxQueue: number;
  readonly maxWaitMs: number;
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly budget: { readonly store: Store; readonly key: string; readonly leaseTtlMs: number } | undefined;
}

/**
 * Validates `concurrency`: an integer ≥ 1 or `Infinity`.
 *
 * @example
 * ```ts
 * checkConcurrency(4); // 4
 * ```
 */
export function checkConcurrency(value: unknown): number {
  return countOrInfinity('concurrency', value, 1);
}

/**
 * Validates a list of limits.
 *
 * @example
 * ```ts
 * checkLimits([tokenBucket({ rate: 5 })]);
 * ```
 */
export function checkLimits(value: unknown): readonly Limit[] {
  if (!Array.isArray(value)) fail('limits', 'an array of limits', value);
  value.forEach((limit: unknown, i) => {
    if (typeof limit !== 'object' || limit === null || typeof (limit as Limit).key !== 'string')
      fail(`limits[${i}]`, 'a limit made by tokenBucket(), fixedWindow() or slidingWindow()', limit);
  });
  return [...(value as Limit[])];
}

/**
 * Validates {@link SchedulerOptions} and fills in the defaults.
 *
 * @example
 * ```ts
 * resolveSchedulerOptions({ concurrency: 2 }).maxQueue; // Infinity
 * ```
 */
export function resolveSchedulerOptions(options: SchedulerOptions): ResolvedSchedulerOptions {
  const o = optionsObject('createScheduler options', options);
  knownKeys('createScheduler()', o, [
    'limits',
    'concurrency',
    'maxQueue',
    'maxWait',
    'clock',
    'sleep',
    'budget',
  ]);
  if (o.clock !== undefined && typeof o.clock !== 'function')
    fail('clock', 'a function returning ms', o.clock);
  if (o.sleep !== undefined && typeof o.sleep !== 'function') fail('sleep', 'a sleep function', o.sleep);
  const maxWait = o.maxWait ?? Number.POSITIVE_INFINITY;
  return {
    limits: checkLimits(o.limits ?? []),
    concurrency: checkConcurrency(o.concurrency ?? Number.POSITIVE_INFINITY),
    maxQueue: countOrInfinity('maxQueue', o.maxQueue ?? Number.POSITIVE_INFINITY, 0),
    maxWaitMs: maxWait === Number.POSITIVE_INFINITY ? maxWait : parseDuration(maxWait, 'maxWait'),
    clock: (o.clock as Clock | undefined) ?? systemClock,
    sleep: (o.sleep as Sleep | undefined) ?? systemSleep,
    budget: o.budget === undefined ? undefined : resolveBudget(o.budget),
  };
}

function resolveBudget(value: unknown): ResolvedSchedulerOptions['budget'] {
  const b = optionsObject('budget', value);
  knownKeys('budget', b, ['store', 'key', 'leaseTtl']);
  const store = b.store as Store | undefined;
  if (typeof store !== 'object' || store === null || typeof store.consume !== 'function')
    fail('budget.store', 'a store (createMemoryStore, createRedisStore, …)', store);
  if (typeof b.key !== 'string' || b.key === '') fail('budget.key', 'a non-empty string', b.key);
  const leaseTtlMs = parsePositiveDuration((b.leaseTtl as Duration | undefined) ?? '1m', 'budget.leaseTtl');
  return { store, key: b.key, leaseTtlMs };
}

function countOrInfinity(path: string, value: unknown, min: number): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    fail(path, `an integer ≥ ${min} or Infinity`, value);
  return value;
}
