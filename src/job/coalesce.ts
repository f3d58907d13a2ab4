/**
 * Serialises calls of `write` and coalesces them: `flush()` resolves once a write that *started after the
 * call* has finished, so its caller's changes are in it; callers that arrive during a write share the next
 * one. So a checkpoint is written at most once at a time, and no more often than writes can finish.
 *
 * @example
 * ```ts
 * const flush = coalesce(() => store.save(snapshot()));
 * await flush(); // the snapshot taken now, or later, is saved
 * ```
 */
export function coalesce(write: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const current = write().finally(() => {
      if (running === current) running = undefined;
    });
    running = current;
    return current;
  };
  return () => {
    if (next !== undefined) return next;
    if (running === undefined) return start();
    const queued = running
      .catch(() => {})
      .then(() => {
        next = undefined;
        return start();
      });
    next = queued;
    return queued;
  };
}
