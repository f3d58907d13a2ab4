/**
 * The events of a client and what each listener receives. `class` is the request class; `endpoint` is the
 * request's endpoint label (method and path with identifiers folded, see `ClientOptions.endpoint`), of
 * bounded cardinality so that it can label metrics.
 *
 * @example
 * ```ts
 * client.on('retry', ({ attempt, reason, delayMs }) => log.info(`retry #${attempt} (${reason}) in ${delayMs} ms`));
 * client.on('throttled', ({ status, retryAfterMs }) => metrics.increment('throttled', { status }));
 * client.on('gateClosed', ({ class: name, untilMs }) => log.warn(`${name} paused until ${new Date(untilMs)}`));
 * client.on('persistentThrottling', ({ class: name, throttles }) => pager.alert(`${name}: ${throttles} throttles`));
 * ```
 */
export interface ClientEvents {
  /** An attempt entered its class's queue (every attempt: a retry queues again). */
  queued: { class: string; endpoint: string; attempt: number; queued: number };
  /** An attempt left the queue and is being sent; `queueWaitMs` is how long it waited. */
  started: { class: string; endpoint: string; attempt: number; queueWaitMs: number; running: number };
  /** A failed attempt will be retried after `delayMs`; `attempt` is the one that failed (from 1). */
  retry: {
    class: string;
    endpoint: string;
    attempt: number;
    reason: 'status' | 'network-error';
    delayMs: number;
    status?: number;
  };
  /** The server answered 429 or 409; `retryAfterMs` is its wait (or the backoff used when it gave none). */
  throttled: { class: string; endpoint: string; status: number; retryAfterMs: number };
  /** A class's gate closed (or was extended): its queued requests wait until `untilMs` (client clock). */
  gateClosed: { class: string; untilMs: number; reason: 'throttled' | 'exhausted' };
  /** A class's gate opened again: its queued requests may start. */
  gateOpened: { class: string };
  /**
   * A request left without being sent: `full` (`maxQueue`), `timeout` (`maxWait`, or a retry's deadline),
   * `aborted` (its signal, while queued or sleeping before a retry), `oversized` (a cost no limit allows),
   * `rate-limited` (the class's gate is closed for longer than `maxRetryAfter`) or `retry-budget` (a retry
   * refused by the retry budget; the last response is returned).
   */
  shed: {
    class: string;
    endpoint: string;
    reason: 'full' | 'timeout' | 'aborted' | 'oversized' | 'rate-limited' | 'retry-budget';
  };
  /**
   * A request finished: `status` is the final response's (absent on an error), `attempts` how many were
   * sent, `durationMs` the time from the call to the end, queueing and retries included.
   */
  done: {
    class: string;
    endpoint: string;
    status?: number;
    ok: boolean;
    attempts: number;
    durationMs: number;
    error?: unknown;
  };
  /** The class's concurrency cap changed (AIMD on 409, the server's announced limit, or recovery). */
  concurrency: { class: string; from: number; to: number; reason: 'conflict' | 'recovery' | 'server' };
  /** The class's pacing rate changed after repeated 429s, or recovered (`to: undefined`: unlimited again). */
  rate: { class: string; from?: number; to?: number; reason: 'throttled' | 'recovery' };
  /**
   * The class was throttled `throttles` times within `windowMs` (see `ClientOptions.persistentThrottling`):
   * the integration is over its budget and needs attention. Emitted once per window.
   */
  persistentThrottling: { class: string; throttles: number; windowMs: number };
}

/**
 * A listener of one client event.
 *
 * @example
 * ```ts
 * const onGate: ClientListener<'gateClosed'> = ({ untilMs }) => console.log(untilMs);
 * ```
 */
export type ClientListener<E extends keyof ClientEvents> = (event: ClientEvents[E]) => void;

/** The function that emits a client event. */
export type Emit = <E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]) => void;

/** A tiny typed emitter: listeners run synchronously; one that throws does not stop the others. */
export function createEmitter() {
  const listeners = new Map<keyof ClientEvents, Set<(event: never) => void>>();
  return {
    on<E extends keyof ClientEvents>(event: E, listener: ClientListener<E>): () => void {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      set.add(listener);
      return () => set.delete(listener);
    },
    /** Whether anyone listens to `event` (so that building its payload can be skipped). */
    has: (event: keyof ClientEvents): boolean => (listeners.get(event)?.size ?? 0) > 0,
    emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
      for (const listener of listeners.get(event) ?? []) {
        try {
          (listener as ClientListener<E>)(payload);
        } catch {
          // A failing listener must not break a request.
        }
      }
    },
  };
}
