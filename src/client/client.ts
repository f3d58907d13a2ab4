import { runAttempts } from './client-attempts.js';
import { type ClassRuntime, type ClientClassStats, createClassRuntime } from './client-class.js';
import { HttpStatusError } from './client-errors.js';
import { type ClientEvents, type ClientListener, createEmitter } from './client-events.js';
import { type ClientOptions, resolveClientOptions } from './client-options.js';
import { type PaginateOptions, paginate } from './client-paginate.js';
import { buildRequest, type FetchInput } from './client-request.js';
import { createRetryBudget } from './retry-policy-budget.js';

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
  const { clock } = o;
  const emitter = createEmitter();
  const { emit } = emitter;
  const classes = o.classes.map((config) => createClassRuntime(config, o, emit));
  const budget = o.retryBudget === false ? undefined : createRetryBudget(o.retryBudget);
  const labels = new Set<string>();

  const context = { options: o, emit, listening: emitter.has, budget };

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

  const send = async (input: FetchInput, init?: RequestInit): Promise<Response> => {
    const request = buildRequest(input, init, o);
    const url = new URL(request.url);
    const runtime = classOf(request.method, url);
    const endpoint = labelOf(request.method, url);
    const startMs = clock();
    const r = {
      request,
      runtime,
      endpoint,
      priority: PRIORITY[(init as { priority?: string } | undefined)?.priority ?? 'auto'] ?? 0,
      sent: 0,
    };
    const done = (fields: { status: number; ok: boolean } | { ok: false; error: unknown }) => {
      if (emitter.has('done'))
        emit('done', {
          class: runtime.config.name,
          endpoint,
          attempts: r.sent,
          durationMs: Math.max(0, clock() - startMs),
          ...fields,
        });
    };
    try {
      const response = await runAttempts(context, r);
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
