import { SluiceError } from '../core/errors.js';

/**
 * The scheduler's queue already held `maxQueue` tasks: the new task was rejected at once and never ran.
 *
 * @example
 * ```ts
 * try {
 *   await scheduler.schedule(() => fetch(url));
 * } catch (error) {
 *   if (error instanceof QueueFullError) console.warn(`queue full (${error.maxQueue})`);
 * }
 * ```
 */
export class QueueFullError extends SluiceError {
  /** The queue bound that was reached. */
  readonly maxQueue: number;

  constructor(maxQueue: number) {
    super('ERR_SLUICE_QUEUE_FULL', `Queue full: ${maxQueue} tasks already waiting (maxQueue)`);
    this.maxQueue = maxQueue;
  }
}

/**
 * A task waited longer than `maxWait` without starting: it was removed from the queue and consumed no budget.
 *
 * @example
 * ```ts
 * const error = new QueueTimeoutError(5000, 5001);
 * error.code; // "ERR_SLUICE_QUEUE_TIMEOUT"
 * ```
 */
export class QueueTimeoutError extends SluiceError {
  /** The configured maximum queue wait, in ms. */
  readonly maxWaitMs: number;
  /** How long the task actually waited, in ms. */
  readonly waitedMs: number;

  constructor(maxWaitMs: number, waitedMs: number) {
    super(
      'ERR_SLUICE_QUEUE_TIMEOUT',
      `Queue timeout: the task waited ${waitedMs} ms without starting (maxWait ${maxWaitMs} ms)`,
    );
    this.maxWaitMs = maxWaitMs;
    this.waitedMs = waitedMs;
  }
}
