import type { Limit } from '../core/limits.js';
import { type ConcurrencyState, learnedLimit, onConflict, onSuccess, scaleLimit } from './client-adapt.js';
import type { Emit } from './client-events.js';
import type { ResolvedClass, ResolvedClientOptions } from './client-options.js';
import { createPacer, REPEAT_WINDOW_MS } from './client-pacer.js';
import { createTrafficCounters, type TrafficCounts, type WindowCounts } from './client-stats.js';
import type { ServerHints } from './hints.js';
import { createScheduler, type Scheduler, type SchedulerStats } from './scheduler.js';

/**
 * The counters of one request class, from `client.stats()`: its scheduler's counters, what the server
 * answered (in all, per endpoint and per time window), and how the class paces itself now.
 *
 * @example
 * ```ts
 * const { query } = client.stats();
 * console.log(query?.responses[429] ?? 0, query?.retries, query?.averageRunning, query?.peakRunning);
 * for (const [endpoint, counts] of Object.entries(query?.endpoints ?? {})) console.log(endpoint, counts.requests);
 * ```
 */
export interface ClientClassStats extends SchedulerStats, TrafficCounts {
  /** The concurrency cap now (after AIMD, the server's announced limit and the first-response probe). */
  readonly concurrency: number;
  /** The names of the limits the class runs now (configured ones at `margin`, then the learned one). */
  readonly limits: readonly string[];
  /** The refill rate per second learned from `remaining` (adaptive), when known. */
  readonly learnedRefillPerSecond?: number;
  /** The start rate per second that repeated 429s cut the class to, while it recovers. */
  readonly rateCap?: number;
  /** Counters per endpoint label. */
  readonly endpoints: Readonly<Record<string, TrafficCounts>>;
  /**
   * Counters of the last time windows (`statsWindow`) that saw traffic, oldest first (a window without
   * traffic is not listed: the last one may be an older one).
   */
  readonly windows: readonly WindowCounts[];
  /** The length of those windows, in ms. */
  readonly windowMs: number;
}

/** The live state of one request class. */
export interface ClassRuntime {
  readonly config: ResolvedClass;
  readonly scheduler: Scheduler;
  /** An attempt starts (is sent). */
  started(endpoint: string, nowMs: number): void;
  /** Records a response and learns from its hints. */
  observe(endpoint: string, status: number, hints: ServerHints, nowMs: number): void;
  /** An attempt got no response. */
  failed(endpoint: string): void;
  /**
   * Handles a 429 or 409 to an attempt sent at `sentAtMs` (while it still runs): closes the gate for
   * `waitMs`; a 409 or a repeated 429 halves the concurrency, a repeated 429 the start rate.
   */
  throttle(endpoint: string, status: number, waitMs: number, nowMs: number, sentAtMs?: number): void;
  /** Counts a retry. */
  retried(endpoint: string): void;
  stats(): ClientClassStats;
}

/** Most policies a class learns limits from. */
const MAX_LEARNED = 16;

/**
 * Creates the runtime of a class. Rules:
 * - configured limits run at `margin` (see `scaleLimit`);
 * - adaptive: the binding quota's `limit` per `windowMs` becomes a sliding window at `margin` (see
 *   `learnedLimit`); a quota with `remaining` but no window is paced by its learned refill (see
 *   `createPacer`); a quota with `remaining: 0` closes the gate until its reset; `X-Concurrency-Limit` caps
 *   the concurrency;
 * - adaptive with no configured limits: one request at a time until the first response (a probe, so that a
 *   burst does not hit an unknown limit before the headers tell it);
 * - 409: concurrency halves (AIMD, at least 1) and recovers by one per `RECOVER_EVERY` 2xx responses;
 * - a repeated 429 halves the start rate, which recovers gradually (see `createPacer`).
 */
export function createClassRuntime(
  config: ResolvedClass,
  options: ResolvedClientOptions,
  emit: Emit,
): ClassRuntime {
  const { margin, adaptive, clock, sleep, persistentThrottling } = options;
  const name = config.name;
  const configured = config.limits.map((limit) => scaleLimit(limit, margin));
  /** Learned limits by the policy that announced them (`source:name`), so that each keeps its state. */
  const learned = new Map<string, Limit>();
  let probing = adaptive && configured.length === 0;
  let aimd: ConcurrencyState = { limit: config.concurrency, successes: 0 };
  let serverConcurrency = Number.POSITIVE_INFINITY;
  const concurrency = () => (probing ? 1 : Math.min(aimd.limit, config.concurrency, serverConcurrency));
  const scheduler = createScheduler({
    limits: configured,
    concurrency: concurrency(),
    ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }),
    ...(options.maxWait === undefined ? {} : { maxWait: options.maxWait }),
    ...(options.budget === undefined
      ? {}
      : {
          budget: {
            store: options.budget.store,
            key: `${options.budget.name}:${config.name}`,
            leaseTtl: options.budget.leaseTtl,
          },
        }),
    clock,
    sleep,
  });
  const pacer = createPacer(margin.rate);
  const counters = createTrafficCounters(clock, options.statsWindowMs);
  /** A learned window no tighter than a configured window of the same length adds nothing. */
  const covered = (limit: Limit) =>
    limit.kind !== 'tokenBucket' &&
    configured.some(
      (c) => c.kind !== 'tokenBucket' && c.windowMs === limit.windowMs && c.limit <= limit.limit,
    );
  const limits = () => (learned.size === 0 ? configured : [...configured, ...learned.values()]);
  let throttleTimes: number[] = [];
  let last429Ms = Number.NEGATIVE_INFINITY;
  let lastCutMs = Number.NEGATIVE_INFINITY;
  let alertedAtMs = Number.NEGATIVE_INFINITY;

  const setConcurrency = (from: number, reason: 'conflict' | 'recovery' | 'server') => {
    const to = concurrency();
    if (to === from) return;
    scheduler.setConcurrency(to);
    emit('concurrency', { class: name, from, to, reason });
  };
  const pace = () => scheduler.setSpacing(pacer.spacingMs(concurrency()));

  let opener: AbortController | undefined;
  const closeGate = (untilMs: number, reason: 'throttled' | 'exhausted') => {
    if (untilMs <= scheduler.gateUntilMs()) return;
    scheduler.closeGate(untilMs);
    emit('gateClosed', { class: name, untilMs, reason });
    opener?.abort();
    const controller = new AbortController();
    opener = controller;
    sleep(Math.max(0, untilMs - clock()), controller.signal).then(
      () => {
        if (opener === controller && scheduler.gateUntilMs() <= clock()) emit('gateOpened', { class: name });
      },
      () => {}, // extended: the later sleep reports
    );
  };

  const alertIfPersistent = (nowMs: number) => {
    if (persistentThrottling === false) return;
    const { throttles, windowMs } = persistentThrottling;
    throttleTimes = throttleTimes.filter((t) => t > nowMs - windowMs);
    throttleTimes.push(nowMs);
    if (throttleTimes.length >= throttles && nowMs - alertedAtMs >= windowMs) {
      alertedAtMs = nowMs;
      emit('persistentThrottling', { class: name, throttles: throttleTimes.length, windowMs });
    }
  };

  return {
    config,
    scheduler,
    started(endpoint, nowMs) {
      pacer.started(nowMs);
      counters.sent(endpoint);
    },
    observe(endpoint, status, hints, nowMs) {
      counters.response(endpoint, status);
      const before = concurrency();
      const wasProbing = probing;
      probing = false;
      const throttled = status === 429 || status === 409;
      if (status >= 200 && status < 300) {
        aimd = onSuccess(aimd, Math.min(config.concurrency, serverConcurrency));
        const change = pacer.onSuccess();
        if (change !== undefined) emit('rate', { class: name, ...change });
      }
      if (adaptive) {
        let changed = false;
        for (const announced of hints.quotas) {
          const limit = learnedLimit(announced, margin.rate);
          const id = `${announced.source}:${announced.name ?? ''}`;
          if (limit === undefined || learned.get(id)?.key === limit.key || covered(limit)) continue;
          if (!learned.has(id) && learned.size >= MAX_LEARNED) continue; // a server naming endless policies
          learned.set(id, limit);
          changed = true;
        }
        if (changed) scheduler.setLimits(limits());
        const quota = hints.binding;
        // `remaining` paces the class when it runs low, learned window or not: it also counts what other
        // clients of the same key spent, which no window of this client knows.
        if (quota?.remaining !== undefined) {
          const { remaining, limit: size, resetAfterMs } = quota;
          const report = {
            remaining,
            ...(size === undefined ? {} : { limit: size }),
            ...(resetAfterMs === undefined ? {} : { resetAfterMs }),
          };
          pacer.observe(nowMs, report, !throttled);
        }
        const { remaining, resetAfterMs } = quota ?? {};
        if (remaining === 0 && resetAfterMs !== undefined && resetAfterMs > 0)
          closeGate(nowMs + resetAfterMs, 'exhausted');
        const announced = hints.concurrency?.limit;
        if (announced !== undefined && announced !== serverConcurrency) serverConcurrency = announced;
      }
      setConcurrency(before, wasProbing || before > concurrency() ? 'server' : 'recovery');
      pace();
    },
    failed(endpoint) {
      counters.error(endpoint);
      if (probing) {
        probing = false;
        scheduler.setConcurrency(concurrency());
      }
    },
    throttle(endpoint, status, waitMs, nowMs, sentAtMs = nowMs) {
      emit('throttled', { class: name, endpoint, status, retryAfterMs: waitMs });
      closeGate(nowMs + waitMs, 'throttled');
      // A 409, or a 429 within REPEAT_WINDOW_MS of the last, halves the concurrency, once per congestion
      // event: a throttle to a request sent before the last cut belongs to the event that caused the cut.
      const repeated = status === 409 || nowMs - last429Ms <= REPEAT_WINDOW_MS;
      if (status === 429) {
        last429Ms = nowMs;
        const change = pacer.onThrottle(nowMs, sentAtMs);
        if (change !== undefined) emit('rate', { class: name, ...change });
      }
      if (repeated && sentAtMs > lastCutMs) {
        const before = concurrency();
        aimd = onConflict(aimd, Math.min(before, scheduler.stats().running + 1));
        lastCutMs = nowMs;
        setConcurrency(before, 'conflict');
      }
      pace();
      alertIfPersistent(nowMs);
    },
    retried: (endpoint) => counters.retried(endpoint),
    stats() {
      const refill = pacer.refillPerSecond();
      const cap = pacer.rateCap();
      return {
        ...scheduler.stats(),
        ...counters.total(),
        concurrency: concurrency(),
        limits: limits().map((limit) => limit.name),
        ...(refill === undefined ? {} : { learnedRefillPerSecond: refill }),
        ...(cap === undefined ? {} : { rateCap: cap }),
        endpoints: counters.endpoints(),
        windows: counters.windows(),
        windowMs: options.statsWindowMs,
      };
    },
  };
}
