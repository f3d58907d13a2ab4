import type { Limit } from '../core/limits.js';
import { type ConcurrencyState, learnedLimit, onConflict, onSuccess, scaleLimit } from './client-adapt.js';
import type { ClientEvents } from './client-events.js';
import type { ResolvedClass, ResolvedClientOptions } from './client-options.js';
import type { ServerHints } from './hints.js';
import { createScheduler, type Scheduler, type SchedulerStats } from './scheduler.js';

/**
 * The counters of one request class, from `client.stats()`: its scheduler's counters plus what the server
 * answered.
 *
 * @example
 * ```ts
 * const { query } = client.stats();
 * console.log(query?.responses[429] ?? 0, query?.retries, query?.throttles, query?.concurrency);
 * ```
 */
export interface ClientClassStats extends SchedulerStats {
  /** The concurrency cap now (after AIMD and the first-response probe). */
  readonly concurrency: number;
  /** The names of the limits the class runs now (configured ones at `margin`, then the learned one). */
  readonly limits: readonly string[];
  /** Responses received, by status (every attempt counts). */
  readonly responses: Readonly<Record<number, number>>;
  /** Attempts retried. */
  readonly retries: number;
  /** 429 and 409 responses. */
  readonly throttles: number;
}

/** The live state of one request class. */
export interface ClassRuntime {
  readonly config: ResolvedClass;
  readonly scheduler: Scheduler;
  /** Records a response and learns from its hints. */
  observe(status: number, hints: ServerHints, nowMs: number): void;
  /** Handles a 429 or 409 (while its attempt still runs): closes the gate for `waitMs`; a 409 halves the concurrency. */
  throttle(status: number, waitMs: number, nowMs: number): void;
  /** Counts a retry. */
  retried(): void;
  stats(): ClientClassStats;
}

type Emit = <E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]) => void;

/**
 * Creates the runtime of a class. Rules:
 * - configured limits run at `margin` (see `scaleLimit`);
 * - adaptive: the binding quota's `limit` per `windowMs` becomes a sliding window at `margin` (see
 *   `learnedLimit`), and a quota with `remaining: 0` closes the gate until its reset;
 * - adaptive with no configured limits: one request at a time until the first response (a probe, so that a
 *   burst does not hit an unknown limit before the headers tell it);
 * - 409: concurrency halves (AIMD, at least 1) and recovers by one per `RECOVER_EVERY` 2xx responses.
 */
export function createClassRuntime(
  config: ResolvedClass,
  options: ResolvedClientOptions,
  emit: Emit,
): ClassRuntime {
  const { margin, adaptive, clock, sleep } = options;
  const configured = config.limits.map((limit) => scaleLimit(limit, margin));
  let learned: Limit | undefined;
  let probing = adaptive && configured.length === 0;
  let aimd: ConcurrencyState = { limit: config.concurrency, successes: 0 };
  const concurrency = () => (probing ? 1 : Math.min(aimd.limit, config.concurrency));
  const scheduler = createScheduler({
    limits: configured,
    concurrency: concurrency(),
    ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }),
    ...(options.maxWait === undefined ? {} : { maxWait: options.maxWait }),
    clock,
    sleep,
  });
  const responses: Record<number, number> = {};
  let retries = 0;
  let throttles = 0;
  const limits = () => (learned === undefined ? configured : [...configured, learned]);

  const closeGate = (untilMs: number) => {
    if (untilMs <= scheduler.gateUntilMs()) return;
    scheduler.closeGate(untilMs);
    emit('gate', { class: config.name, untilMs });
  };

  return {
    config,
    scheduler,
    observe(status, hints, nowMs) {
      responses[status] = (responses[status] ?? 0) + 1;
      const before = concurrency();
      probing = false;
      if (status >= 200 && status < 300) aimd = onSuccess(aimd, config.concurrency);
      if (adaptive) {
        const limit = learnedLimit(hints.binding, margin);
        if (limit !== undefined && limit.key !== learned?.key) {
          learned = limit;
          scheduler.setLimits(limits());
        }
        const { remaining, resetAfterMs } = hints.binding ?? {};
        if (remaining === 0 && resetAfterMs !== undefined && resetAfterMs > 0)
          closeGate(nowMs + resetAfterMs);
      }
      if (concurrency() !== before) scheduler.setConcurrency(concurrency());
    },
    throttle(status, waitMs, nowMs) {
      throttles++;
      emit('throttled', { class: config.name, status, retryAfterMs: waitMs });
      closeGate(nowMs + waitMs);
      if (status === 409) {
        aimd = onConflict(aimd, scheduler.stats().running);
        scheduler.setConcurrency(concurrency());
      }
    },
    retried: () => {
      retries++;
    },
    stats: () => ({
      ...scheduler.stats(),
      concurrency: concurrency(),
      limits: limits().map((limit) => limit.name),
      responses: { ...responses },
      retries,
      throttles,
    }),
  };
}
