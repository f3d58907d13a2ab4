/**
 * `sluice/job`: resumable batch jobs with checkpoints, a lock, retries, dead letters and progress.
 *
 * @module
 */
export { type CheckpointData, parseCheckpoint } from './checkpoint.js';
export { isPermanentError, JobLockedError, type LockHolder } from './errors.js';
export { type ProgressCounts, progressBar, progressLine, summaryText } from './progress.js';
export { runJob } from './run-job.js';
export type {
  DeadLetter,
  JobCheckpointOptions,
  JobItemContext,
  JobLockOptions,
  JobOptions,
  JobOutput,
  JobProgress,
  JobRetryOptions,
  JobSummary,
} from './types.js';
