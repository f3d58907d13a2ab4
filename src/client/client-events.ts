/**
 * The events of a client and what each listener receives.
 *
 * @example
 * ```ts
 * client.on('retry', ({ attempt, reason, delayMs }) => log.info(`retry #${attempt} (${reason}) in ${delayMs} ms`));
 * client.on('throttled', ({ status, retryAfterMs }) => metrics.increment('throttled', { status }));
 * client.on('gate', ({ class: name, untilMs }) => log.warn(`${name} paused until ${new Date(untilMs)}`));
 * ```
 */
export interface ClientEvents {
  /** A failed attempt will be retried after `delayMs`; `attempt` is the one that failed (from 1). */
  retry: {
    class: string;
    attempt: number;
    reason: 'status' | 'network-error';
    delayMs: number;
    status?: number;
  };
  /** The server answered 429 or 409; `retryAfterMs` is its wait (or the backoff used when it gave none). */
  throttled: { class: string; status: number; retryAfterMs: number };
  /** A class's gate closed: its queued requests wait until `untilMs` (on the client's clock). */
  gate: { class: string; untilMs: number };
}

/**
 * A listener of one client event.
 *
 * @example
 * ```ts
 * const onGate: ClientListener<'gate'> = ({ untilMs }) => console.log(untilMs);
 * ```
 */
export type ClientListener<E extends keyof ClientEvents> = (event: ClientEvents[E]) => void;

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
