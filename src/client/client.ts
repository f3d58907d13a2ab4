import { RateLimitedError } from '../core/errors.js';
import { nextDelay } from './backoff.js';
import { type ClassRuntime, type ClientClassStats, createClassRuntime } from './client-class.js';
import { HttpStatusError } from './client-errors.js';
import { type ClientEvents, type ClientListener, createEmitter } from './client-events.js';
import { type ClientOptions, resolveClientOptions } from './client-options.js';
import { type PaginateOptions, paginate } from './client-paginate.js';
import { buildRequest, discard, type FetchInput, jsonBodyOf, SendFailure } from './client-request.js';
import { readHints } from './hints.js';
import { type RetryDecision, shouldRetry } from './retry-policy.js';
import { createRetryBudget } from './retry-policy-budget.js';
import { QueueFullError, QueueTimeoutError } from './scheduler-errors.js';

/**
 * A rate-limit-aware HTTP client, made by {@link createClient}.
 *
 * @example
 * ```ts
 * const client: Client = createClient({ baseUrl: 'https://api.example.com/' });
 * const response = await client.fetch('/orders?page=1');
 * ```
 */
export interface Client {
  /**
   * The standard `fetch` signature: paced, retried when safe, and resolved with the final `Response` (a
   * 4xx or 5xx that is not retried is returned as is). `init.priority` (`'high'`, `'auto'`, `'low'`) orders
   * the class's queue: higher first, first in first out within a priority. Rejects with the signal's reason when aborted, a
   * `QueueFullError` or `QueueTimeoutError` when shed, a `RateLimitedError` when the server's wait exceeds
   * `retry.maxRetryAfter`, or the network error once retries are exhausted.
   */
  fetch(input: FetchInput, init?: RequestInit): Promise<Response>;
  /** Like `fetch`, then parses the JSON body; a response outside 2xx rejects with `HttpStatusError`. */
  json<T = unknown>(input: FetchInput, init?: RequestInit): Promise<T>;
  /**
   * Iterates the items of a paginated JSON API, one page at a time, through `fetch` (see `paginate`):
   * `Link: <…>; rel="next"`, a cursor or a next URL in the body.
   */
  paginate<T = unknown>(input: string | URL, options?: PaginateOptions<T>): AsyncIterableIterator<T>;
  /** Counters per class. */
  stats(): Record<string, ClientClassStats>;
  /** Listens to an event; returns a function that stops listening. */
  on<E extends keyof ClientEvents>(event: E, listener: ClientListener<E>): () => void;
}

const THROTTLES = new Set([409, 429]);
/** Fetch's `init.priority` as a queue priority: `high` requests start before `auto`, `low` ones after. */
const PRIORITY: Record<string, number> = { high: 1, auto: 0, low: -1 };

/**
 * Creates a client whose `fetch` paces requests below the server's limits and retries only what is safe.
 *
 * Each request goes to the first class whose `match` accepts it and waits in that class's scheduler for
 * every limit and a concurrency slot. After the response:
 * - **adaptive** (default): the binding quota's `limit` per `windowMs` becomes a sliding window at `margin`
 *   (so the client slows down before a 429); a quota that reports `remaining` without a window is paced by
 *   the refill rate learned from it; a quota with `remaining: 0` closes the gate until its reset;
 *   `X-Concurrency-Limit` caps the concurrency; a class with no configured limits sends one request at a
 *   time until its first response;
 * - **429 or 409**: the class's gate closes until the server's time (`Retry-After` and friends, or a backoff
 *   delay when it gives none), so every queued request of the class waits; a 409 also halves the class's
 *   concurrency and a repeated 429 its start rate (AIMD: both recover gradually);
 * - **retry** (`shouldRetry`): retried statuses and network errors, for idempotent methods, requests with an
 *   `Idempotency-Key` or a `retryable` class; the server's wait is honoured exactly, otherwise the backoff.
 *   A retry sleeps outside the scheduler (holding no slot) and then queues again (taking a token). Retries
 *   of 5xx, 408 and network errors also spend the retry budget.
 *
 * @example
 * ```ts
 * const client = createClient({
 *   baseUrl: 'https://api.example.com/v1/',
 *   headers: { authorization: `Bearer ${token}` },
 *   classes: {
 *     query: { limits: [tokenBucket({ rate: 10, per: '1s', burst: 60 })] },
 *     command: { limits: [tokenBucket({ rate: 2 })], concurrency: 2 },
 *   },
 *   retry: { maxAttempts: 5, deadline: '1m' },
 * });
 * const orders = await client.json<Order[]>('orders?status=open');
 * client.on('throttled', ({ status, retryAfterMs }) => log.warn({ status, retryAfterMs }));
 * ```
 */
export function createClient(options: ClientOptions = {}): Client {
  const o = resolveClientOptions(options);
  const { clock, sleep, random } = o;
  const emitter = createEmitter();
  const { emit } = emitter;
  const classes = o.classes.map((config) => createClassRuntime(config, o, emit));
  const budget = o.retryBudget === false ? undefined : createRetryBudget(o.retryBudget);
  const labels = new Set<string>();

  const classOf = (method: string, url: URL): ClassRuntime =>
    classes.find((c) => c.config.match(method, url)) ?? (classes[classes.length - 1] as ClassRuntime);

  /** The endpoint label: at most `maxEndpoints` distinct ones, then `other`. */
  const labelOf = (method: string, url: URL): string => {
    let label: unknown;
    try {
      label = o.endpoint(method, url);
    } catch {
      return 'other';
    }
    if (typeof label !== 'string') return 'other';
    if (labels.has(label)) return label;
    if (labels.size >= o.maxEndpoints) return 'other';
    labels.add(label);
    return label;
  };

  const attempts = async (
    request: Request,
    runtime: ClassRuntime,
    endpoint: string,
    count: { n: number },
    priority: number,
  ) => {
    const { method, signal } = request;
    const { policy, name } = runtime.config;
    const hasIdempotencyKey = request.headers.has('idempotency-key');
    const startMs = clock();
    budget?.recordRequest(startMs);
    let previousDelayMs: number | undefined;
    for (let attempt = 1; ; attempt++) {
      const elapsedMs = () => Math.max(0, clock() - startMs);
      const base = {
        method,
        attempt,
        hasIdempotencyKey,
        ...(previousDelayMs === undefined ? {} : { previousDelayMs }),
      };
      // The response is read and judged while the attempt holds its slot, so that the learned limits, the
      // gate and the concurrency change before the next queued request may start.
      const judge = async (response: Response) => {
        const { status } = response;
        const nowMs = clock();
        const body = THROTTLES.has(status) ? await jsonBodyOf(response) : undefined;
        const hints = readHints(response.headers, nowMs, body);
        runtime.observe(endpoint, status, hints, nowMs);
        const wait = hints.retryAfterMs === undefined ? {} : { retryAfterMs: hints.retryAfterMs };
        const decision = shouldRetry({ ...base, status, ...wait, elapsedMs: elapsedMs() }, policy, random);
        if (THROTTLES.has(status)) {
          const backoffMs = () =>
            nextDelay(
              { attempt: attempt - 1, previousMs: previousDelayMs ?? policy.backoff.baseMs },
              policy.backoff,
              random,
            ).delayMs;
          const waitMs = hints.retryAfterMs ?? (decision.retry ? decision.delayMs : backoffMs());
          runtime.throttle(endpoint, status, waitMs, nowMs);
        }
        return { response, decision };
      };
      const queuedAtMs = clock();
      if (emitter.has('queued'))
        emit('queued', { class: name, endpoint, attempt, queued: runtime.scheduler.stats().queued + 1 });
      let outcome: { response: Response | undefined; decision: RetryDecision; failure?: unknown };
      try {
        outcome = await runtime.scheduler.schedule(
          async (taskSignal) => {
            count.n++;
            const sentAtMs = clock();
            runtime.started(endpoint, sentAtMs);
            if (emitter.has('started')) {
              const { running } = runtime.scheduler.stats();
              emit('started', {
                class: name,
                endpoint,
                attempt,
                queueWaitMs: sentAtMs - queuedAtMs,
                running,
              });
            }
            let response: Response;
            try {
              response = await o.fetch(request.clone(), { signal: taskSignal });
            } catch (error) {
              runtime.failed(endpoint);
              throw new SendFailure(error);
            }
            return judge(response);
          },
          { signal, priority },
        );
      } catch (error) {
        if (!(error instanceof SendFailure)) {
          const reason = shedReason(error, signal);
          if (reason !== undefined) emit('shed', { class: name, endpoint, reason });
          throw error;
        }
        if (signal.aborted) throw signal.reason;
        const decision = shouldRetry({ ...base, networkError: true, elapsedMs: elapsedMs() }, policy, random);
        if (!decision.retry) throw error.failure;
        outcome = { response: undefined, decision, failure: error.failure };
      }
      const { response, decision, failure } = outcome;
      if (response !== undefined && !decision.retry) {
        if (decision.reason !== 'retry-after-too-long') return response;
        await discard(response);
        throw new RateLimitedError(decision.retryAfterMs ?? Number.POSITIVE_INFINITY);
      }
      if (!decision.retry) throw new Error('unreachable: a refused network retry has thrown');
      // A throttle waits at the gate for the server's time; other failures spend the retry budget.
      if (
        !(response !== undefined && THROTTLES.has(response.status)) &&
        budget?.tryRetry(clock()) === false
      ) {
        emit('shed', { class: name, endpoint, reason: 'retry-budget' });
        if (response !== undefined) return response;
        throw failure;
      }
      if (response !== undefined) await discard(response);
      runtime.retried(endpoint);
      emit('retry', {
        class: name,
        endpoint,
        attempt,
        reason: decision.reason,
        delayMs: decision.delayMs,
        ...(response === undefined ? {} : { status: response.status }),
      });
      previousDelayMs = decision.delayMs;
      try {
        await sleep(decision.delayMs, signal);
      } catch (error) {
        if (signal.aborted) emit('shed', { class: name, endpoint, reason: 'aborted' });
        throw error;
      }
    }
  };

  const send = async (input: FetchInput, init?: RequestInit): Promise<Response> => {
    const request = buildRequest(input, init, o);
    const url = new URL(request.url);
    const runtime = classOf(request.method, url);
    const endpoint = labelOf(request.method, url);
    const startMs = clock();
    const count = { n: 0 };
    const done = (fields: { status: number; ok: boolean } | { ok: false; error: unknown }) => {
      if (emitter.has('done'))
        emit('done', {
          class: runtime.config.name,
          endpoint,
          attempts: count.n,
          durationMs: Math.max(0, clock() - startMs),
          ...fields,
        });
    };
    try {
      const priority = PRIORITY[(init as { priority?: string } | undefined)?.priority ?? 'auto'] ?? 0;
      const response = await attempts(request, runtime, endpoint, count, priority);
      done({ status: response.status, ok: response.ok });
      return response;
    } catch (error) {
      done({ ok: false, error });
      throw error;
    }
  };

  return {
    fetch: send,
    async json<T = unknown>(input: FetchInput, init?: RequestInit): Promise<T> {
      const headers = new Headers(init?.headers);
      if (!headers.has('accept')) headers.set('accept', 'application/json');
      const response = await send(input, { ...init, headers });
      if (!response.ok) throw new HttpStatusError(response);
      const text = await response.text();
      return (text === '' ? undefined : JSON.parse(text)) as T;
    },
    paginate: <T = unknown>(input: string | URL, paginateOptions?: PaginateOptions<T>) =>
      paginate<T>(
        send,
        typeof input === 'string' && o.baseUrl !== undefined ? new URL(input, o.baseUrl) : input,
        paginateOptions,
      ),
    stats: () => Object.fromEntries(classes.map((c) => [c.config.name, c.stats()])),
    on: emitter.on,
  };
}

/** Why the scheduler turned an attempt away, for the `shed` event (`undefined`: not shed, e.g. a bug). */
function shedReason(
  error: unknown,
  signal: AbortSignal,
): 'full' | 'timeout' | 'aborted' | 'oversized' | undefined {
  if (error instanceof QueueFullError) return 'full';
  if (error instanceof QueueTimeoutError) return 'timeout';
  if (error instanceof RateLimitedError) return 'oversized';
  return signal.aborted ? 'aborted' : undefined;
}
