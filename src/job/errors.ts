import { HttpStatusError } from '../client/client-errors.js';
import { SluiceError, StoreError } from '../core/errors.js';

/**
 * Who holds a job lock: read from the lock file or the Redis key.
 *
 * @example
 * ```ts
 * const holder: LockHolder = { pid: 4242, host: 'worker-1', startedAtMs: 1767225600000, expiresAtMs: 1767225630000 };
 * ```
 */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly startedAtMs: number;
  /** When the lock expires unless renewed. */
  readonly expiresAtMs: number;
}

const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : 'an unknown time');

/**
 * Another run of the job holds its lock. The message says who, since when, and when the lock expires.
 *
 * @example
 * ```ts
 * try {
 *   await runJob(options);
 * } catch (error) {
 *   if (error instanceof JobLockedError) console.error(error.message); // Job sync-orders is already running: …
 * }
 * ```
 */
export class JobLockedError extends SluiceError {
  readonly job: string;
  readonly holder: LockHolder | undefined;

  constructor(job: string, where: string, holder: LockHolder | undefined) {
    super(
      'ERR_SLUICE_JOB_LOCKED',
      holder === undefined
        ? `Job ${job} is already running: the lock ${where} is held (its holder is unknown)`
        : `Job ${job} is already running: the lock ${where} is held by pid ${holder.pid} on ${holder.host} ` +
            `since ${iso(holder.startedAtMs)}; it expires at ${iso(holder.expiresAtMs)} unless renewed`,
    );
    this.job = job;
    this.holder = holder;
  }
}

/**
 * Whether an error from `process` is not worth retrying: an `HttpStatusError` with a 4xx status other than
 * 408 and 429, or any error with `permanent: true`.
 *
 * @example
 * ```ts
 * isPermanentError(Object.assign(new Error('bad payload'), { permanent: true })); // true
 * isPermanentError(new Error('ECONNRESET')); // false
 * ```
 */
export function isPermanentError(error: unknown): boolean {
  if (typeof error === 'object' && error !== null && (error as { permanent?: unknown }).permanent === true)
    return true;
  if (error instanceof HttpStatusError)
    return error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429;
  return false;
}

/** The message of anything thrown. */
export const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === 'string' ? error : String(error);

/**
 * The job lock was lost while the job ran (taken over, or not renewed before its expiry): the run stops at
 * once and writes no checkpoint any more. Its `code` is `ERR_SLUICE_JOB_LOCK_LOST`.
 *
 * @example
 * ```ts
 * if (summary.error instanceof StoreError && summary.error.code === 'ERR_SLUICE_JOB_LOCK_LOST') alert(summary.error.message);
 * ```
 */
export const lockLostError = (where: string, why: string): StoreError =>
  new StoreError('ERR_SLUICE_JOB_LOCK_LOST', `Lost the job lock ${where}: ${why}`);
