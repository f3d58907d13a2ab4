import { nextDelay } from '../client/backoff.js';
import { ConfigError } from '../core/errors.js';
import { describe } from '../internal/describe.js';
import type { CheckpointData, CheckpointStore } from './checkpoint.js';
import { coalesce } from './coalesce.js';
import { isPermanentError, messageOf } from './errors.js';
import { openStores } from './open.js';
import type { ResolvedJobOptions } from './options.js';
import { resolveJobOptions } from './options.js';
import { createProgress } from './progress.js';
import { createTracker } from './tracker.js';
import type { DeadLetter, JobOptions, JobSummary } from './types.js';

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
 *   unless `stopOnError`. Dead-lettered items are not retried by a resumed run.
 * - **Incremental sync**: the cursor set with `setCursor` (or returned by `onDone`) is stored when the whole
 *   run completes, and passed to `source` next time. A completed checkpoint starts a new pass next time.
 * - **One run at a time**: a lock (file with `O_EXCL`, or Redis `SET NX PX`) renewed while the job runs and
 *   released at the end; a second start rejects with `JobLockedError`. Stale locks (expired, or left by a
 *   dead process on this host) are taken over.
 * - **Progress**: a bar on a TTY, a line every `progressInterval` otherwise, and a summary.
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
  const { store, lock, close } = await openStores(o);
  const renewal = lock === undefined ? undefined : { lock, everyMs: o.lock!.ttlMs / 3 };
  try {
    return await execute(o, store, renewal);
  } finally {
    await lock?.release().catch(() => {});
    close();
  }
}

type Renewal = { lock: { renew(): Promise<boolean>; where: string }; everyMs: number };

async function execute<T>(
  o: ResolvedJobOptions<T>,
  store: CheckpointStore,
  renewal: Renewal | undefined,
): Promise<JobSummary> {
  const { clock } = o;
  const saved = await store.load();
  const resume = saved?.state === 'running' ? saved : undefined;
  const cursor = saved?.cursor;
  const runStartMs = clock();
  const tracker = createTracker(resume, o.ordered);
  const deadLetters: DeadLetter[] = [...(resume?.deadLetters ?? [])];
  const base = resume?.counts ?? { processed: 0, failed: 0, retries: 0 };
  const run = { processed: 0, skipped: 0, failed: 0, retries: 0 };
  let nextCursor: { value: unknown } | undefined;
  let failure: Error | undefined;
  const stop = new AbortController();
  const signal = o.signal === undefined ? stop.signal : AbortSignal.any([o.signal, stop.signal]);
  const fail = (error: unknown) => {
    failure ??= error instanceof Error ? error : new Error(messageOf(error));
    stop.abort(failure);
  };

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
    deadLetters,
    ...(cursor !== undefined && { cursor }),
    counts: {
      processed: base.processed + run.processed,
      failed: base.failed + run.failed,
      retries: base.retries + run.retries,
    },
    ...extra,
  });
  const flush = coalesce(() => store.save(checkpoint('running')));

  const timer =
    renewal &&
    setInterval(() => {
      renewal.lock.renew().then(
        (ours) => ours || fail(new Error(`Lost the job lock ${renewal.lock.where}: another run took it`)),
        (error: unknown) => fail(new Error(`Could not renew the job lock: ${messageOf(error)}`)),
      );
    }, renewal.everyMs);
  timer?.unref?.();

  const clientCounts = () => {
    let throttles = 0;
    let retries = 0;
    for (const c of Object.values(o.client?.stats() ?? {})) {
      throttles += c.throttles;
      retries += c.retries;
    }
    return { throttles, retries };
  };
  const progress =
    o.output &&
    createProgress({
      name: o.name,
      output: o.output,
      clock,
      intervalMs: o.progressIntervalMs,
      counts: () => {
        const client = clientCounts();
        return {
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
            nextCursor = { value };
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
        const outcome = signal.aborted ? false : await attempt(item, id);
        if (outcome === false) {
          abandoned = true;
          break;
        }
        if (outcome === true) run.processed++;
        else {
          deadLetters.push(outcome);
          run.failed++;
        }
        tracker.finish(at, id);
        confirmed.push(id);
      }
      if (confirmed.length > 0) {
        await flush();
        o.onConfirm?.(confirmed);
      }
      progress?.tick();
    }
  };

  try {
    await Promise.all(Array.from({ length: o.concurrency }, () => worker().catch(fail)));
  } finally {
    if (timer) clearInterval(timer);
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
    deadLetters,
    cursor: stored,
    ...(failure !== undefined && { error: failure }),
    ...(state === 'aborted' && { error: new Error(`Aborted: ${messageOf(o.signal?.reason)}`) }),
  });
  let summary = summaryOf(nextCursor === undefined ? cursor : nextCursor.value);
  if (state === 'completed') {
    const fromHook = await o.onDone?.(summary);
    if (fromHook !== undefined) summary = summaryOf(fromHook);
    const completed = checkpoint('completed', { position: 0, done: [], cursor: summary.cursor });
    const { lastId: _, ...rest } = completed;
    try {
      await store.save(rest);
    } catch (error) {
      failure = error as Error;
      summary = { ...summary, state: 'failed', error: failure };
    }
  } else {
    summary = summaryOf(cursor);
    await flush().catch(() => {});
  }
  progress?.finish(summary);
  return summary;
}

function toAsyncIterator<T>(iterable: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> {
  if (Symbol.asyncIterator in iterable) return iterable[Symbol.asyncIterator]();
  const sync = (iterable as Iterable<T>)[Symbol.iterator]();
  return {
    next: async () => sync.next(),
    return: async () => sync.return?.() ?? { done: true, value: undefined },
  };
}
