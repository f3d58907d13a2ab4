import type { Duration } from '../core/duration.js';
import type { Limit } from '../core/limits.js';

/**
 * Per-task options of {@link Scheduler.schedule}.
 *
 * @example
 * ```ts
 * const options: ScheduleOptions = { signal: AbortSignal.timeout(10_000), priority: 1, cost: 1 };
 * ```
 */
export interface ScheduleOptions {
  /** Aborting removes a queued task (rejecting with the signal's reason) or aborts a running one. */
  signal?: AbortSignal;
  /**
   * Higher starts first; first in, first out within a priority. A finite number.
   * @default 0
   * @example 10
   */
  priority?: number;
  /**
   * Longest this task may wait without starting, on top of the scheduler's `maxWait` (the shorter wins);
   * then it rejects with `QueueTimeoutError`.
   * @default the scheduler's `maxWait`
   * @example '5s'
   */
  maxWait?: Duration;
  /**
   * Units taken from every limit when the task starts: a finite number ≥ 0.
   * @default 1
   * @example 5
   */
  cost?: number;
}

/**
 * Counters of a scheduler, made by {@link Scheduler.stats}.
 *
 * @example
 * ```ts
 * const { queued, running, shed } = scheduler.stats();
 * if (shed.timeout > 0) log.warn('tasks waited longer than maxWait');
 * ```
 */
export interface SchedulerStats {
  /** Tasks waiting now. */
  readonly queued: number;
  /** Tasks running now. */
  readonly running: number;
  /** Most tasks running at once so far. */
  readonly peakRunning: number;
  /** Tasks started. */
  readonly started: number;
  /** Started tasks that resolved. */
  readonly completed: number;
  /** Started tasks that rejected (or threw). */
  readonly failed: number;
  /**
   * Tasks rejected without running: queue full, `maxWait` passed, aborted, a cost no limit can ever allow,
   * or removed by `clear`.
   */
  readonly shed: {
    readonly full: number;
    readonly timeout: number;
    readonly aborted: number;
    readonly oversized: number;
    readonly cleared: number;
  };
  /** Sum of the queue waits of started tasks, in ms. */
  readonly queueWaitTotalMs: number;
  /** Longest queue wait of a started task, in ms. */
  readonly queueWaitMaxMs: number;
  /** Tasks running on average (time-weighted) since the first task started; 0 before. */
  readonly averageRunning: number;
}

/**
 * A request scheduler, made by {@link createScheduler}.
 *
 * @example
 * ```ts
 * const scheduler: Scheduler = createScheduler({ limits: [tokenBucket({ rate: 10 })], concurrency: 4 });
 * const response = await scheduler.schedule((signal) => fetch(url, { signal }));
 * ```
 */
export interface Scheduler {
  /**
   * Runs `task` once every limit allows it and a concurrency slot is free; resolves or rejects as the task does.
   * Rejects with `QueueFullError`, `QueueTimeoutError`, the signal's reason when aborted while queued, or a
   * `RateLimitedError` (with `retryAfterMs: Infinity`) when `cost` exceeds a limit's capacity.
   */
  schedule<T>(task: (signal: AbortSignal) => Promise<T>, options?: ScheduleOptions): Promise<T>;
  /** Holds every queued task until `untilMs` (a time on the scheduler's clock). The gate only ever extends. */
  closeGate(untilMs: number): void;
  /** Rejects every queued task with `reason` (counted as shed `cleared`); returns how many there were. */
  clear(reason: unknown): number;
  /** The time until which the gate is closed (a past time, 0 at first, means open). */
  gateUntilMs(): number;
  /** Changes the concurrency cap; running tasks are never interrupted. */
  setConcurrency(concurrency: number): void;
  /** Replaces the limits; limits kept by `key` keep their state. */
  setLimits(limits: readonly Limit[]): void;
  /**
   * Spaces task starts at least `ms` apart (0: no spacing), on top of the limits. Unlike a new limit, a new
   * spacing keeps the time of the last start, so changing it often never lets a burst through.
   */
  setSpacing(ms: number): void;
  /** A snapshot of the counters. */
  stats(): SchedulerStats;
}
