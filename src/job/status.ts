import type { JobProgress, JobSummary } from './types.js';

/**
 * The status `onProgress` gets, from the counts of a running job or from its summary.
 *
 * @example
 * ```ts
 * statusOf({ name: 'sync', state: 'running', processed: 10, skipped: 0, failed: 0, retries: 0, durationMs: 5000 }, 100);
 * ```
 */
export function statusOf(
  c: Pick<JobSummary, 'name' | 'processed' | 'skipped' | 'failed' | 'retries' | 'durationMs'> & {
    readonly state: JobProgress['state'];
  },
  total: number | undefined,
): JobProgress {
  const durationMs = Math.max(0, c.durationMs);
  return {
    name: c.name,
    state: c.state,
    processed: c.processed,
    skipped: c.skipped,
    failed: c.failed,
    retries: c.retries,
    durationMs,
    ...(total !== undefined && { total }),
    itemsPerSecond: durationMs > 0 ? (c.processed * 1000) / durationMs : 0,
  };
}

/** `onProgress` made safe: it must not break the job (it is also called from a timer). */
export const reporter =
  (onProgress: ((status: JobProgress) => void) | undefined) =>
  (status: JobProgress): void => {
    try {
      onProgress?.(status);
    } catch {}
  };

/** An async iterator over a sync or async iterable. */
export function toAsyncIterator<T>(iterable: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> {
  if (Symbol.asyncIterator in iterable) return iterable[Symbol.asyncIterator]();
  const sync = (iterable as Iterable<T>)[Symbol.iterator]();
  return {
    next: async () => sync.next(),
    return: async () => sync.return?.() ?? { done: true, value: undefined },
  };
}
