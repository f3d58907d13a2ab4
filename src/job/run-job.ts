import { nextDelay } from '../client/backoff.js';
import { ConfigError } from '../core/errors.js';
import { describe } from '../internal/describe.js';
import type { CheckpointData, CheckpointStore } from './checkpoint.js';
import { coalesce } from './coalesce.js';
import { isPermanentError, messageOf } from './errors.js';
import { type Lease, startLease } from './lease.js';
import { openStores } from './open.js';
import type { ResolvedJobOptions } from './options.js';
import { resolveJobOptions } from './options.js';
import { createProgress } from './progress.js';
import { reporter, statusOf, toAsyncIterator } from './status.js';
import { createTracker } from './tracker.js';
import type { DeadLetter, JobOptions, JobProgress, JobSummary } from './types.js';

/** The span of the progress line's recent rate. */
const RECENT_MS = 15_000;

/**
 * Runs a resumable batch job: takes items from `items` (or `source`, given the stored cursor), runs `process`
 * on each with `concurrency` batches at once, and writes a checkpoint after every batch (`batchSize` items).
 *
 * - **Resume**: a run interrupted (abort, crash, SIGKILL) leaves a checkpoint; the next run skips every item
 *   it confirmed without calling `process`, and confirms no item twice. An item is confirmed once the
 *   checkpoint write that records it has finished (file: temporary file, fsync, rename; Redis: one `SET`).
 * - **Exactly once at the server**: an item whose `process` ran but whose checkpoint write did not happen
 *   (the process was killed in between) is processed again by the next run. For the upstream to see it once,
 *   make the request idempotent: send an `Idempotency-Key` derived from the item id (the client retries such
 *   requests safely too) and have the server dedupe by it.
 * - **Failures**: a rejection is retried (`retry.attempts`, backoff between attempts) unless permanent
 *   (`isPermanentError`: a 4xx `HttpStatusError` other than 408/429, or `permanent: true`); an item that fails
 *   for good is dead-lettered (id, message, attempts, time, kept in the checkpoint) and the job goes on,
 *   unless `stopOnError`. Dead-lettered items are not retried by a resumed run. Dead letters are kept across
 *   passes: the next pass tries their items again (one that succeeds leaves the list, one that fails again
 *   replaces its entry) until a run with `clearDeadLetters: true` empties the list.
 * - **Incremental sync**: the cursor set with `setCursor` (the last call wins, or as `mergeCursor` combines
 *   them) is kept in the running checkpoint as `pendingCursor` (a resumed run carries it on), stored as the
 *   cursor when the whole pass completes, and passed to `source` next time. `onDone` runs after that write
 *   and may return another cursor (written then). A completed checkpoint starts a new pass next time.
 * - **The checkpoint is the source of truth**: `onConfirm` is called after the write that confirms its ids,
 *   so a run killed between the two confirms items whose callback never runs. Read the checkpoint
 *   (`parseCheckpoint`), not a log of callbacks, to know what is done.
 * - **One run at a time**: a lock (file with `O_EXCL`, or Redis `SET NX PX`) renewed every third of its
 *   `ttl` while the job runs and released at the end (not when the lease was lost or expired: the lock may
 *   be another run's by then); a second start rejects with `JobLockedError`. Stale locks (expired, or left
 *   by a dead process of the same boot and PID namespace: see `acquireFileLock`) are taken over. A failed renewal (say a Redis
 *   blip) is retried until shortly before the expiry. The run stops at once — in-flight items aborted, no
 *   further item started, state `failed` with `ERR_SLUICE_JOB_LOCK_LOST` — when its lock was taken over or
 *   its expiry passed without a renewal (an event loop blocked longer than the `ttl`), and every checkpoint
 *   write is fenced: the file's lock token is checked just before the rename; with the lock on the
 *   checkpoint's Redis, the check and the `SET` are one Lua script. (A file-fenced write can still land in
 *   the instant between its check and its rename; Redis has no such gap.)
 * - **Ordered or not**: with `items`, positions are trusted (`ordered: true`); a `source` (often live and
 *   paginated) skips by id (`ordered: false`). In ordered mode a source that changed below the saved
 *   position fails the run (`ERR_SLUICE_JOB_ORDER`) rather than falling back to ids: the items before it
 *   were already skipped by position, so a fallback could lose an inserted item silently.
 * - **Checkpoint size**: unordered, the checkpoint holds every id done in the pass and is rewritten whole
 *   after each batch (bytes written grow with the square of the pass: raise `batchSize` for big passes).
 * - **Progress**: a bar on a TTY (cut to the terminal's width), a line every `progressInterval` otherwise,
 *   and a summary; `onProgress` gets the status at each tick, for monitoring (`monitoringReport`).
 *
 * Resolves with the summary (`state` `completed`, `failed` or `aborted`); rejects only for bad options
 * (`ConfigError`), a held lock (`JobLockedError`) or an unreadable checkpoint.
 *
 * @example
 * ```ts
 * const client = createClient({ baseUrl: 'https://erp.example.com/' });
 * const summary = await runJob({
 *   name: 'push-orders',
 *   source: ({ cursor }) => shop.paginate<Order>(`/orders?updated_since=${cursor ?? ''}`),
 *   id: (order) => String(order.id),
 *   process: async (order, { signal, setCursor }) => {
 *     const response = await client.fetch(`/orders/${order.id}`, {
 *       method: 'PUT', body: JSON.stringify(order), signal,
 *       headers: { 'idempotency-key': `push-orders-${order.id}` },
 *     });
 *     if (!response.ok) throw new HttpStatusError(response);
 *     setCursor(order.updatedAt);
 *   },
 *   checkpoint: { file: 'state/push-orders.json' },
 *   client,
 * });
 * ```
 */
export async function runJob<T>(options: JobOptions<T>): Promise<JobSummary> {
  const o = resolveJobOptions(options);
  // The lock's expiry runs from before it was asked for (a monotonic clock: see `startLease`).
  const validFromMs = performance.now();
  const { store, lock, close } = await openStores(o);
  const held: { lease?: Lease } = {};
  try {
    return await execute(o, store, (onLost) => {
      if (lock === undefined || o.lock === undefined) return undefined;
      held.lease = startLease(lock, { ttlMs: o.lock.ttlMs, validFromMs, onLost });
      return held.lease;
    });
  } finally {
    held.lease?.stop();
    // A lost or expired lease may have been taken over: its lock is someone else's now, not ours to remove.
    if (held.lease?.valid() !== false) await lock?.release().catch(() => {});
    close();
  }
}

async function execute<T>(
  o: ResolvedJobOptions<T>,
  store: CheckpointStore,
  startLeaseWith: (onLost: (error: Error) => void) => Lease | undefined,
): Promise<JobSummary> {
  const { clock } = o;
  const runStartMs = clock();
  let failure: Error | undefined;
  const stop = new AbortController();
  const signal = o.signal === undefined ? stop.signal : AbortSignal.any([o.signal, stop.signal]);
  const fail = (error: unknown) => {
    failure ??= error instanceof Error ? error : new Error(messageOf(error));
    stop.abort(failure);
  };
  const lease = startLeaseWith(fail);
  if (lease !== undefined) await store.prepare(); // only while holding the lock: no other writer runs
  const saved = await store.load();
  const resume = saved?.state === 'running' ? saved : undefined;
  const cursor = saved?.cursor;
  const tracker = createTracker(resume, o.ordered);
  /** Dead letters by id, kept across passes until `clearDeadLetters`; an item that succeeds leaves it. */
  const letters = new Map<string, DeadLetter>(
    o.clearDeadLetters ? [] : (saved?.deadLetters ?? []).map((letter) => [letter.id, letter]),
  );
  const base = resume?.counts ?? { processed: 0, failed: 0, retries: 0 };
  const run = { processed: 0, skipped: 0, failed: 0, retries: 0 };
  /** The cursor set in this pass (restored from an interrupted run's checkpoint), stored when it completes. */
  let nextCursor: { value: unknown } | undefined =
    resume !== undefined && 'pendingCursor' in resume ? { value: resume.pendingCursor } : undefined;

  const checkpoint = (
    state: CheckpointData['state'],
    extra: Partial<CheckpointData> = {},
  ): CheckpointData => ({
    version: 1,
    name: o.name,
    state,
    startedAtMs: resume?.startedAtMs ?? runStartMs,
    updatedAtMs: clock(),
    ...tracker.snapshot(),
    deadLetters: [...letters.values()],
    ...(cursor !== undefined && { cursor }),
    ...(state === 'running' && nextCursor !== undefined && { pendingCursor: nextCursor.value }),
    counts: {
      processed: base.processed + run.processed,
      failed: base.failed + run.failed,
      retries: base.retries + run.retries,
    },
    ...extra,
  });
  // Fenced: no checkpoint write once the lock is lost (see `startLease`).
  const flush = coalesce(() => store.save(checkpoint('running'), lease?.fence));

  // The recent rate of work for the progress line: items finished over the last RECENT_MS (at least 2 s of
  // samples), from the samples the progress ticks take.
  const samples: Array<{ atMs: number; work: number }> = [];
  const recent = (nowMs: number, work: number): number | undefined => {
    samples.push({ atMs: nowMs, work });
    while (samples.length > 2 && (samples[1] as { atMs: number }).atMs <= nowMs - RECENT_MS) samples.shift();
    const first = samples[0] as { atMs: number; work: number };
    const spanMs = nowMs - first.atMs;
    return spanMs >= 2000 ? ((work - first.work) * 1000) / spanMs : undefined;
  };
  const clientCounts = () => {
    let throttles = 0;
    let retries = 0;
    for (const c of Object.values(o.client?.stats() ?? {})) {
      throttles += c.throttles;
      retries += c.retries;
    }
    return { throttles, retries };
  };
  const report = reporter(o.onProgress);
  const running = (): JobProgress =>
    statusOf({ name: o.name, state: 'running', ...run, durationMs: clock() - runStartMs }, o.total);
  const progress =
    (o.output !== undefined || o.onProgress !== undefined) &&
    createProgress({
      name: o.name,
      output: o.output,
      clock,
      intervalMs: o.progressIntervalMs,
      onTick: () => report(running()),
      resumed: resume && { confirmed: resume.position + resume.done.length, deadLetters: letters.size },
      counts: () => {
        const client = clientCounts();
        const recentRate = recent(clock(), run.processed + run.failed);
        return {
          ...(recentRate === undefined ? {} : { recentRate }),
          done: run.processed + run.skipped + run.failed,
          total: o.total,
          skipped: run.skipped,
          failed: run.failed,
          retries: run.retries + client.retries,
          throttles: client.throttles,
          elapsedMs: clock() - runStartMs,
        };
      },
    });

  report(running());

  const iterable = o.source
    ? o.source({ cursor })
    : typeof o.items === 'function'
      ? o.items()
      : (o.items as Iterable<T>);
  const iterator = toAsyncIterator(iterable);
  let index = 0;
  let exhausted = false;
  /** An item was handed out and left unfinished (aborted). */
  let abandoned = false;
  let pulling: Promise<unknown> = Promise.resolve();

  /** The next batch of items not done yet (pulls are one at a time: iterators are not reentrant). */
  const take = () => {
    const result = pulling.then(async () => {
      const batch: { item: T; id: string; index: number }[] = [];
      while (batch.length < o.batchSize && !exhausted && !signal.aborted) {
        const next = await iterator.next();
        if (next.done === true) {
          exhausted = true;
          break;
        }
        const id: unknown = o.id(next.value);
        if (typeof id !== 'string' || id === '') {
          throw new ConfigError(
            'id',
            `Expected \`id(item)\` to return a non-empty string, got ${describe(id)}`,
          );
        }
        const at = index++;
        if (tracker.skip(at, id)) run.skipped++;
        else batch.push({ item: next.value, id, index: at });
      }
      return batch;
    });
    pulling = result.catch(() => {});
    return result;
  };

  /**
   * Runs one item with retries: `true` when processed, its dead letter when it failed for good, `false` when
   * aborted. Counts and dead letters are recorded by the caller together with the item's `finish`, so that
   * no checkpoint holds one without the other.
   */
  const attempt = async (item: T, id: string): Promise<boolean | DeadLetter> => {
    let backoff: Parameters<typeof nextDelay>[0];
    for (let n = 1; ; n++) {
      try {
        await o.process(item, {
          signal,
          attempt: n,
          cursor,
          setCursor: (value) => {
            nextCursor = { value: o.mergeCursor(nextCursor?.value, value) };
          },
        });
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        if (!isPermanentError(error) && n < o.attempts) {
          run.retries++;
          const step = nextDelay(backoff, o.backoff, o.random);
          backoff = step.state;
          try {
            await o.sleep(step.delayMs, signal);
          } catch {
            return false;
          }
          continue;
        }
        if (o.stopOnError) fail(new Error(`Item ${id} failed (stopOnError): ${messageOf(error)}`));
        return { id, error: messageOf(error), attempts: n, atMs: clock() };
      }
    }
  };

  const worker = async () => {
    while (!signal.aborted) {
      const batch = await take();
      if (batch.length === 0) return;
      const confirmed: string[] = [];
      for (const { item, id, index: at } of batch) {
        // A lock whose expiry passed (say, the event loop was blocked) stops the run before the next item.
        const outcome = signal.aborted || lease?.valid() === false ? false : await attempt(item, id);
        if (outcome === false) {
          abandoned = true;
          break;
        }
        letters.delete(id);
        if (outcome === true) run.processed++;
        else {
          letters.set(id, outcome);
          run.failed++;
        }
        tracker.finish(at, id);
        confirmed.push(id);
      }
      if (confirmed.length > 0) {
        await flush();
        o.onConfirm?.(confirmed);
      }
      if (progress) progress.tick();
    }
  };

  try {
    await Promise.all(Array.from({ length: o.concurrency }, () => worker().catch(fail)));
  } finally {
    await iterator.return?.().catch(() => {});
  }

  const state =
    failure !== undefined
      ? 'failed'
      : o.signal?.aborted && (abandoned || !exhausted)
        ? 'aborted'
        : 'completed';
  const durationMs = Math.max(0, clock() - runStartMs);
  const summaryOf = (stored: unknown): JobSummary => ({
    name: o.name,
    state,
    processed: run.processed,
    skipped: run.skipped,
    failed: run.failed,
    retries: run.retries,
    durationMs,
    itemsPerSecond: durationMs > 0 ? (run.processed * 1000) / durationMs : 0,
    deadLetters: [...letters.values()],
    cursor: stored,
    ...(failure !== undefined && { error: failure }),
    ...(state === 'aborted' && { error: new Error(`Aborted: ${messageOf(o.signal?.reason)}`) }),
  });
  let summary = summaryOf(nextCursor === undefined ? cursor : nextCursor.value);
  if (state === 'completed') {
    const saveCompleted = async (stored: unknown): Promise<boolean> => {
      const { lastId: _, ...rest } = checkpoint('completed', { position: 0, done: [], cursor: stored });
      try {
        await store.save(rest, lease?.fence);
        return true;
      } catch (error) {
        failure = error as Error;
        summary = { ...summary, state: 'failed', error: failure };
        return false;
      }
    };
    // `onDone` only once the run is stored as completed: a run that fails at that write (say its lock was
    // lost) does not run the hook's side effects. A cursor the hook returns is then stored by a second write.
    if (await saveCompleted(summary.cursor)) {
      const fromHook = await o.onDone?.(summary);
      if (fromHook !== undefined) {
        summary = summaryOf(fromHook);
        await saveCompleted(fromHook);
      }
    }
  } else {
    summary = summaryOf(cursor);
    await flush().catch(() => {});
  }
  if (progress) progress.finish(summary);
  report(statusOf(summary, o.total));
  return summary;
}
