import { RateLimitedError } from '../core/errors.js';
import { nextDelay } from './backoff.js';
import { type ClassRuntime, type ClientClassStats, createClassRuntime } from './client-class.js';
import { HttpStatusError } from './client-errors.js';
import { type ClientEvents, type ClientListener, createEmitter } from './client-events.js';
import { type ClientOptions, resolveClientOptions } from './client-options.js';
import { buildRequest, discard, type FetchInput, jsonBodyOf, SendFailure } from './client-request.js';
import { readHints } from './hints.js';
import { type RetryDecision, shouldRetry } from './retry-policy.js';

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
   * 4xx or 5xx that is not retried is returned as is). Rejects with the signal's reason when aborted, a
   * `QueueFullError` or `QueueTimeoutError` when shed, a `RateLimitedError` when the server's wait exceeds
   * `retry.maxRetryAfter`, or the network error once retries are exhausted.
   */
  fetch(input: FetchInput, init?: RequestInit): Promise<Response>;
  /** Like `fetch`, then parses the JSON body; a response outside 2xx rejects with `HttpStatusError`. */
  json<T = unknown>(input: FetchInput, init?: RequestInit): Promise<T>;
  /** Counters per class. */
  stats(): Record<string, ClientClassStats>;
  /** Listens to an event; returns a function that stops listening. */
  on<E extends keyof ClientEvents>(event: E, listener: ClientListener<E>): () => void;
}

const THROTTLES = new Set([409, 429]);

/**
 * Creates a client whose `fetch` paces requests below the server's limits and retries only what is safe.
 *
 * Each request goes to the first class whose `match` accepts it and waits in that class's scheduler for
 * every limit and a concurrency slot. After the response:
 * - **adaptive** (default): the binding quota's `limit` per `windowMs` becomes a sliding window at `margin`
 *   (so the client slows down before a 429), a quota with `remaining: 0` closes the gate until its reset,
 *   and a class with no configured limits sends one request at a time until its first response;
 * - **429 or 409**: the class's gate closes until the server's time (`Retry-After` and friends, or a backoff
 *   delay when it gives none), so every queued request of the class waits; a 409 also halves the class's
 *   concurrency (AIMD: at least 1, then +1 per 10 responses in 2xx, up to the configured cap);
 * - **retry** (`shouldRetry`): retried statuses and network errors, for idempotent methods, requests with an
 *   `Idempotency-Key` or a `retryable` class; the server's wait is honoured exactly, otherwise the backoff.
 *   A retry sleeps outside the scheduler (holding no slot) and then queues again (taking a token).
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
  const classes = o.classes.map((config) => createClassRuntime(config, o, emitter.emit));

  const classOf = (method: string, url: URL): ClassRuntime =>
    classes.find((c) => c.config.match(method, url)) ?? (classes[classes.length - 1] as ClassRuntime);

  const send = async (input: FetchInput, init?: RequestInit): Promise<Response> => {
    const request = buildRequest(input, init, o);
    const { method, signal } = request;
    const runtime = classOf(method, new URL(request.url));
    const { policy, name } = runtime.config;
    const hasIdempotencyKey = request.headers.has('idempotency-key');
    const startMs = clock();
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
        runtime.observe(status, hints, nowMs);
        const wait = hints.retryAfterMs === undefined ? {} : { retryAfterMs: hints.retryAfterMs };
        const decision = shouldRetry({ ...base, status, ...wait, elapsedMs: elapsedMs() }, policy, random);
        if (THROTTLES.has(status)) {
          const backoffMs = () =>
            nextDelay(
              { attempt: attempt - 1, previousMs: previousDelayMs ?? policy.backoff.baseMs },
              policy.backoff,
              random,
            ).delayMs;
          runtime.throttle(
            status,
            hints.retryAfterMs ?? (decision.retry ? decision.delayMs : backoffMs()),
            nowMs,
          );
        }
        return { response, decision };
      };
      let outcome: { response: Response | undefined; decision: RetryDecision };
      try {
        outcome = await runtime.scheduler.schedule(
          async (taskSignal) => {
            let response: Response;
            try {
              response = await o.fetch(request.clone(), { signal: taskSignal });
            } catch (error) {
              throw new SendFailure(error);
            }
            return judge(response);
          },
          { signal },
        );
      } catch (error) {
        if (!(error instanceof SendFailure)) throw error; // shed, aborted while queued, or a bug
        if (signal.aborted) throw signal.reason;
        const decision = shouldRetry({ ...base, networkError: true, elapsedMs: elapsedMs() }, policy, random);
        if (!decision.retry) throw error.failure;
        outcome = { response: undefined, decision };
      }
      const { response, decision } = outcome;
      if (response !== undefined && !decision.retry) {
        if (decision.reason !== 'retry-after-too-long') return response;
        await discard(response);
        throw new RateLimitedError(decision.retryAfterMs ?? Number.POSITIVE_INFINITY);
      }
      if (!decision.retry) throw new Error('unreachable: a refused network retry has thrown');
      if (response !== undefined) await discard(response);
      runtime.retried();
      emitter.emit('retry', {
        class: name,
        attempt,
        reason: decision.reason,
        delayMs: decision.delayMs,
        ...(response === undefined ? {} : { status: response.status }),
      });
      previousDelayMs = decision.delayMs;
      await sleep(decision.delayMs, signal);
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
    stats: () => Object.fromEntries(classes.map((c) => [c.config.name, c.stats()])),
    on: emitter.on,
  };
}
