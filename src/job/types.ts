import type { BackoffOptions } from '../client/backoff.js';
import type { Clock, Sleep } from '../core/clock.js';
import type { Duration } from '../core/duration.js';
import type { IoRedisLike } from '../store/redis/client.js';

/**
 * What `process` gets beside the item.
 *
 * @example
 * ```ts
 * const process = async (order: Order, { signal, attempt, setCursor }: JobItemContext) => {
 *   await client.fetch(`/orders/${order.id}`, { method: 'PUT', body: JSON.stringify(order), signal });
 *   setCursor(order.updatedAt);
 * };
 * ```
 */
export interface JobItemContext {
  /** Aborted when the job stops (its `signal`, `stopOnError`, a lost lock): pass it to `fetch`. */
  readonly signal: AbortSignal;
  /** The attempt number, from 1. */
  readonly attempt: number;
  /** The cursor the run started from (stored by the last completed run), if any. */
  readonly cursor: unknown;
  /**
   * Sets the cursor stored when the whole pass completes (JSON-serialisable): the last call wins, unless
   * `mergeCursor` says otherwise. Kept in the running checkpoint meanwhile (`pendingCursor`).
   */
  setCursor(value: unknown): void;
}

/**
 * Where the checkpoint lives: a JSON file written atomically (temporary file, fsync, rename), or a Redis key.
 *
 * @example
 * ```ts
 * const checkpoint: JobCheckpointOptions = { file: 'state/sync-orders.json' };
 * const shared: JobCheckpointOptions = { redis: 'redis://127.0.0.1:6379', key: 'jobs:sync-orders' };
 * ```
 */
export type JobCheckpointOptions =
  | { readonly file: string }
  | { readonly redis: string | IoRedisLike; readonly key: string };

/**
 * The job lock: a file created with `O_EXCL`, or a Redis key set with `SET NX PX`; `ttl` is its expiry,
 * renewed every third of it while the job runs.
 *
 * @example
 * ```ts
 * const lock: JobLockOptions = { file: 'state/sync-orders.lock', ttl: '30s' };
 * ```
 */
export type JobLockOptions = (
  | { readonly file: string }
  | { readonly redis: string | IoRedisLike; readonly key: string }
) & { readonly ttl?: Duration };

/**
 * Retries of an item whose `process` throws a temporary error.
 *
 * @example
 * ```ts
 * const retry: JobRetryOptions = { attempts: 5, backoff: { base: '500ms', cap: '10s' } };
 * ```
 */
export interface JobRetryOptions {
  /** Attempts per item in all (1: no retry). @default 3 */
  readonly attempts?: number;
  /** The delay between attempts (see `createBackoff`). @default { base: '1s', cap: '30s' } */
  readonly backoff?: BackoffOptions;
}

/**
 * Where progress lines and the summary are written. A stream with `isTTY` gets a bar redrawn in place.
 *
 * @example
 * ```ts
 * const output: JobOutput = process.stderr;
 * ```
 */
export interface JobOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  /** The terminal's width: the bar is cut to one character less, so that it never wraps. @default 80 */
  readonly columns?: number;
}

/**
 * Options of {@link runJob}. Give exactly one of `items` and `source`.
 *
 * @example
 * ```ts
 * const options: JobOptions<Order> = {
 *   name: 'push-orders',
 *   items: () => client.paginate<Order>('/orders'),
 *   id: (order) => String(order.id),
 *   process: async (order, { signal }) => {
 *     const response = await client.fetch(`/erp/orders/${order.id}`, { method: 'PUT', signal });
 *     if (!response.ok) throw new HttpStatusError(response);
 *   },
 *   checkpoint: { file: 'push-orders.checkpoint.json' },
 * };
 * ```
 */
export interface JobOptions<T> {
  /** The job's name (lock, checkpoint, logs): letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /** The items, or a function returning them (called once per run). */
  readonly items?: AsyncIterable<T> | Iterable<T> | (() => AsyncIterable<T> | Iterable<T>);
  /** The items since the stored cursor (incremental sync); `cursor` is undefined on the first run. */
  readonly source?: (context: { cursor: unknown }) => AsyncIterable<T> | Iterable<T>;
  /** The work on one item; a rejection is retried (`retry`) unless permanent (see `isPermanentError`). */
  readonly process: (item: T, context: JobItemContext) => Promise<void>;
  /** A stable id of an item: the checkpoint records ids. */
  readonly id: (item: T) => string;
  /** Batches processed at once. @default 4 */
  readonly concurrency?: number;
  /** Items per batch: the checkpoint is written once a batch is done. @default 1 */
  readonly batchSize?: number;
  /**
   * Whether the source yields the same items in the same order on every run. The checkpoint then keeps a
   * position (every item before it is done) and the ids done past it; otherwise every id done.
   *
   * Ordered mode trusts positions: only the item just below the saved position is checked on resume (a
   * changed one fails the run with `ERR_SLUICE_JOB_ORDER`, nothing skipped wrongly is lost); an item
   * replaced further below it is skipped unseen. So use it only for a stable list (a file, a query with a
   * fixed order over data that does not change); a live, paginated source needs `ordered: false`.
   *
   * Cost of `ordered: false`: the checkpoint holds every id done in the pass and is rewritten whole after
   * every batch, so the bytes written over a pass grow with the square of its size (100,000 ids of 10
   * bytes: ~1 MB per write). For large passes raise `batchSize`, or keep passes small (an incremental
   * `source` with a cursor).
   * @default true with `items`, false with `source`
   */
  readonly ordered?: boolean;
  /** The checkpoint; `false` keeps progress in memory only. @default { file: `${name}.checkpoint.json` } */
  readonly checkpoint?: JobCheckpointOptions | false;
  /** The lock; `false` for none. @default beside the checkpoint: `<file>.lock`, or the Redis `<key>:lock` */
  readonly lock?: JobLockOptions | false;
  /** @default { attempts: 3, backoff: { base: '1s', cap: '30s' } } */
  readonly retry?: JobRetryOptions;
  /** Stop at the first item that fails for good (it is still dead-lettered). @default false */
  readonly stopOnError?: boolean;
  /**
   * Called when the run completes, after the completed checkpoint was written (a run that fails at that
   * write does not call it). A value returned other than undefined becomes the stored cursor: the checkpoint
   * is written a second time with it; if that write fails the run is reported `failed` (the checkpoint is
   * completed all the same, with the cursor from `setCursor`, which the next run starts from).
   */
  readonly onDone?: (summary: JobSummary) => unknown;
  /**
   * How `setCursor(next)` combines with the cursor set before it in this pass (`previous`, undefined at
   * first): with concurrency items finish out of order, so the last call is not always the furthest item.
   * @default (previous, next) => next (the last call wins)
   * @example
   * ```ts
   * mergeCursor: (previous, next) => (previous === undefined || (next as string) > (previous as string) ? next : previous),
   * ```
   */
  readonly mergeCursor?: (previous: unknown, next: unknown) => unknown;
  /**
   * Forget the dead letters stored so far when the run starts. Without it, dead letters are kept across
   * passes (a completed run's list is carried into the next pass, where its items are tried again: one that
   * succeeds leaves the list, one that fails again replaces its entry) until a run with this option.
   * @default false
   */
  readonly clearDeadLetters?: boolean;
  /**
   * Called with the job's status when it starts, at each progress tick (`progressInterval`; ~10 times a
   * second on a TTY) and once at the end with the final state. The status fits `JobStatus` of
   * `sluice/client`, so `monitoringReport({ jobs: [status] })` can flag a long-running job.
   * @example
   * ```ts
   * onProgress: (status) => { latest.set(status.name, status); },
   * ```
   */
  readonly onProgress?: (status: JobProgress) => void;
  /** Called after each checkpoint write with the ids it confirmed (for audit logs and tests). */
  readonly onConfirm?: (ids: readonly string[]) => void;
  /** Stops the job: in-flight items are aborted, confirmed ones stay confirmed; the state is `aborted`. */
  readonly signal?: AbortSignal;
  /** The number of items, when known (an array's `length` or a set's `size` is used otherwise). */
  readonly total?: number;
  /** A client whose `stats()` gives the throttles and retries shown in the progress line. */
  readonly client?: { stats(): Record<string, { throttles: number; retries: number }> };
  /** Where the progress and summary go; `false` for silence. @default process.stderr */
  readonly output?: JobOutput | false;
  /** Between progress lines when the output is not a TTY. @default '10s' */
  readonly progressInterval?: Duration;
  /** @default Date.now */
  readonly clock?: Clock;
  /** @default systemSleep */
  readonly sleep?: Sleep;
  /** The random source of the backoff jitter. @default Math.random */
  readonly random?: () => number;
}

/**
 * The status of a job, running or ended, as `onProgress` gets it. Counts are of this run.
 *
 * @example
 * ```ts
 * const report = monitoringReport({ integration: 'erp', jobs: [status], longRunningMs: 3_600_000 });
 * ```
 */
export interface JobProgress {
  readonly name: string;
  readonly state: 'running' | JobSummary['state'];
  readonly processed: number;
  readonly skipped: number;
  readonly failed: number;
  readonly retries: number;
  /** Since this run started, on the job's clock. */
  readonly durationMs: number;
  /** The number of items, when known. */
  readonly total?: number;
  readonly itemsPerSecond: number;
}

/**
 * An item that failed for good.
 *
 * @example
 * ```ts
 * const letter: DeadLetter = { id: '42', error: 'Request failed with 422', attempts: 1, atMs: 1767225600000 };
 * ```
 */
export interface DeadLetter {
  readonly id: string;
  readonly error: string;
  readonly attempts: number;
  /** When it was given up, on the job's clock. */
  readonly atMs: number;
}

/**
 * The result of {@link runJob}. Counts are of this run; `skipped` are items a previous run confirmed.
 *
 * @example
 * ```ts
 * const summary: JobSummary = await runJob(options);
 * if (summary.state !== 'completed') process.exitCode = 1;
 * ```
 */
export interface JobSummary {
  readonly name: string;
  readonly state: 'completed' | 'failed' | 'aborted';
  /** Items processed and confirmed in this run. */
  readonly processed: number;
  /** Items skipped: confirmed (or dead-lettered) by an earlier, interrupted run. */
  readonly skipped: number;
  /** Items dead-lettered in this run. */
  readonly failed: number;
  /** Retries of items in this run (the client's own retries are in its stats). */
  readonly retries: number;
  readonly durationMs: number;
  readonly itemsPerSecond: number;
  /**
   * The dead letters kept: those of this pass (earlier interrupted runs included) and those carried over
   * from earlier passes whose item has not succeeded since (see `clearDeadLetters`).
   */
  readonly deadLetters: readonly DeadLetter[];
  /** The cursor stored (completed) or still in force (otherwise). */
  readonly cursor: unknown;
  /** Why the job failed or was aborted. */
  readonly error?: Error;
}
