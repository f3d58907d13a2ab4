import { parseDuration } from '../core/duration.js';
import { RateLimitedError } from '../core/errors.js';
import { fail, cost as validCost } from '../internal/describe.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import type { Check, Lease } from '../store/types.js';
import { QueueFullError, QueueTimeoutError } from './scheduler-errors.js';
import {
  checkConcurrency,
  checkLimits,
  resolveSchedulerOptions,
  type SchedulerOptions,
} from './scheduler-options.js';
import { createPriorityQueue } from './scheduler-queue.js';
import { createSharedBudget, LEASE_POLL_MS, type SharedBudget } from './scheduler-shared.js';
import type { ScheduleOptions, Scheduler, SchedulerStats } from './scheduler-types.js';

export { QueueFullError, QueueTimeoutError } from './scheduler-errors.js';
export type { SchedulerOptions } from './scheduler-options.js';

export type { ScheduleOptions, Scheduler, SchedulerStats } from './scheduler-types.js';

type ShedKind = keyof SchedulerStats['shed'];

interface Entry {
  readonly task: (signal: AbortSignal) => Promise<unknown>;
  readonly cost: number;
  readonly enqueuedAtMs: number;
  readonly maxWaitMs: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
  state: 'queued' | 'running' | 'done';
  /** Cancels the `maxWait` sleep. */
  timer: AbortController | undefined;
  /** The signal given to the task, once running. */
  controller: AbortController | undefined;
  /** Stops renewing the shared budget's concurrency lease and gives it back, while running. */
  letGo: (() => void) | undefined;
  onAbort: () => void;
}

/** The one store key under which the scheduler's limits keep their state. */
const KEY = 'scheduler';

/**
 * Creates a scheduler: tasks wait in a priority queue until every limit allows them and a concurrency slot is
 * free. Budget is taken only when a task starts; waits come from the limits' exact `retryAfterMs` (one sleep,
 * no polling); a closed gate (a server's `Retry-After`) holds the whole queue.
 *
 * @example
 * ```ts
 * const scheduler = createScheduler({
 *   limits: [tokenBucket({ rate: 10, burst: 5 })],
 *   concurrency: 4,
 *   maxQueue: 1000,
 *   maxWait: '30s',
 * });
 * const data = await scheduler.schedule(async (signal) => (await fetch(url, { signal })).json(), {
 *   priority: 1,
 * });
 * ```
 */
export function createScheduler(options: SchedulerOptions = {}): Scheduler {
  const o = resolveSchedulerOptions(options);
  const { clock, sleep, maxQueue, maxWaitMs } = o;
  let limits = o.limits;
  let concurrency = o.concurrency;
  let gate = 0;
  let spacingMs = 0;
  let lastStartMs = Number.NEGATIVE_INFINITY;
  // Time-weighted running count: the integral of `running` over time since the first start.
  let busy = { sinceMs: Number.NaN, atMs: 0, integral: 0 };
  const account = (nowMs: number) => {
    if (Number.isNaN(busy.sinceMs)) busy = { sinceMs: nowMs, atMs: nowMs, integral: 0 };
    busy.integral += counts.running * Math.max(0, nowMs - busy.atMs);
    busy.atMs = Math.max(busy.atMs, nowMs);
  };
  const store = createMemoryStore({ clock });
  const shared =
    o.budget === undefined
      ? undefined
      : createSharedBudget(
          o.budget.store,
          o.budget.key,
          () => concurrency,
          o.budget.leaseTtlMs,
          clock,
          sleep,
        );
  let admitting = false;
  const queue = createPriorityQueue<Entry>();
  const counts = {
    running: 0,
    peakRunning: 0,
    started: 0,
    completed: 0,
    failed: 0,
    waitTotal: 0,
    waitMax: 0,
  };
  const shed: Record<ShedKind, number> = { full: 0, timeout: 0, aborted: 0, oversized: 0, cleared: 0 };

  // The one pending wake-up: a sleep until the head may start (a limit's retry time, or the gate).
  let wake: { atMs: number; controller: AbortController } | undefined;
  const cancelWake = () => {
    wake?.controller.abort();
    wake = undefined;
  };
  const wakeAt = (atMs: number, nowMs: number) => {
    if (wake?.atMs === atMs) return;
    cancelWake();
    const current = { atMs, controller: new AbortController() };
    wake = current;
    const delay = atMs - nowMs;
    sleep(delay > 0 ? delay : 1, current.controller.signal).then(
      () => {
        if (wake !== current) return;
        wake = undefined;
        pump();
      },
      () => {}, // cancelled
    );
  };

  const averageRunning = () => {
    if (Number.isNaN(busy.sinceMs)) return 0;
    const nowMs = clock();
    account(nowMs);
    const spanMs = nowMs - busy.sinceMs;
    return spanMs > 0 ? busy.integral / spanMs : counts.running;
  };

  const checksFor = (cost: number): Check[] => limits.map((limit) => ({ limit, key: KEY, cost }));

  /** Takes a queued entry out, rejects it and lets the rest of the queue move. */
  const removeEntry = (entry: Entry, error: unknown, kind: ShedKind) => {
    if (entry.state !== 'queued') return;
    queue.remove(entry);
    entry.state = 'done';
    entry.timer?.abort();
    entry.signal?.removeEventListener('abort', entry.onAbort);
    shed[kind]++;
    entry.reject(error);
    pump();
  };

  const settle = (entry: Entry, ok: boolean, value: unknown) => {
    entry.state = 'done';
    entry.letGo?.();
    entry.signal?.removeEventListener('abort', entry.onAbort);
    account(clock());
    counts.running--;
    if (ok) counts.completed++;
    else counts.failed++;
    pump();
    if (ok) entry.resolve(value);
    else entry.reject(value);
  };

  const start = (entry: Entry, nowMs: number, lease?: Lease) => {
    queue.remove(entry);
    entry.state = 'running';
    if (lease !== undefined) entry.letGo = shared?.hold(lease);
    entry.timer?.abort();
    account(nowMs);
    lastStartMs = nowMs;
    counts.running++;
    counts.peakRunning = Math.max(counts.peakRunning, counts.running);
    counts.started++;
    const waited = nowMs - entry.enqueuedAtMs;
    counts.waitTotal += waited;
    counts.waitMax = Math.max(counts.waitMax, waited);
    const controller = new AbortController();
    entry.controller = controller;
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(entry.task(controller.signal));
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (value) => settle(entry, true, value),
      (error) => settle(entry, false, error),
    );
  };

  /**
   * Asks the shared budget whether the head may start (one admission at a time): then starts that task
   * (or, if it left meanwhile, the next one if it costs no more), or waits until the budget says.
   */
  const admitShared = (budget: SharedBudget, head: Entry, nowMs: number) => {
    admitting = true;
    budget.admit(limits, head.cost, nowMs).then(
      (admission) => {
        admitting = false;
        if (!admission.start) {
          if (admission.never) {
            removeEntry(head, new RateLimitedError(Number.POSITIVE_INFINITY), 'oversized');
            pump(); // the head may have left meanwhile: the queue moves on either way
          } else wakeAt(admission.atMs, clock());
          return;
        }
        // The admitted task was charged its cost: it starts, even if a task of higher priority arrived
        // meanwhile. If it left (aborted, timed out), a task costing no more may use its admission.
        const next = head.state === 'queued' ? head : queue.peek();
        if (next === undefined || next.cost > head.cost) {
          if (admission.lease !== undefined) budget.release(admission.lease);
          pump();
          return;
        }
        start(next, clock(), admission.lease);
        pump();
      },
      () => {
        // A store that throws (one not wrapped by createResilientStore): try again a little later.
        admitting = false;
        wakeAt(clock() + 4 * LEASE_POLL_MS, clock());
      },
    );
  };

  /** Starts queued tasks from the head while they may start; otherwise arms the one wake-up needed. */
  const drain = () => {
    if (admitting) return;
    for (;;) {
      const head = queue.peek();
      if (head === undefined) return cancelWake();
      const nowMs = clock();
      const waited = nowMs - head.enqueuedAtMs;
      if (waited > head.maxWaitMs) {
        removeEntry(head, new QueueTimeoutError(head.maxWaitMs, waited), 'timeout');
        continue;
      }
      if (gate > nowMs) return wakeAt(gate, nowMs);
      if (counts.running >= concurrency) return cancelWake(); // a settling task pumps
      if (spacingMs > 0 && nowMs < lastStartMs + spacingMs) return wakeAt(lastStartMs + spacingMs, nowMs);
      if (shared !== undefined) return admitShared(shared, head, nowMs);
      if (limits.length > 0) {
        const outcome = store.consumeSync(checksFor(head.cost), nowMs);
        if (!outcome.allowed) {
          if (outcome.retryAfterMs !== Number.POSITIVE_INFINITY)
            return wakeAt(nowMs + outcome.retryAfterMs, nowMs);
          removeEntry(head, new RateLimitedError(outcome.retryAfterMs), 'oversized');
          continue;
        }
      }
      start(head, nowMs);
    }
  };

  // Re-entrant calls (a task scheduling another, a removal inside drain) run once more after the current one.
  let pumping = false;
  let again = false;
  const pump = () => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        drain();
      } while (again);
    } finally {
      pumping = false;
    }
  };

  /** Arms the `maxWait` deadline: at the deadline the queue gets one last chance, then the task is shed. */
  const armTimeout = (entry: Entry) => {
    entry.timer = new AbortController();
    sleep(entry.maxWaitMs, entry.timer.signal).then(
      () => {
        pump();
        const waited = clock() - entry.enqueuedAtMs;
        removeEntry(entry, new QueueTimeoutError(entry.maxWaitMs, waited), 'timeout');
      },
      () => {}, // the task started or left the queue
    );
  };

  return {
    schedule<T>(task: (signal: AbortSignal) => Promise<T>, options: ScheduleOptions = {}): Promise<T> {
      if (typeof task !== 'function') fail('task', 'a function', task);
      const cost = validCost(options.cost ?? 1);
      const priority = options.priority ?? 0;
      if (typeof priority !== 'number' || !Number.isFinite(priority))
        fail('priority', 'a finite number', priority);
      const { signal } = options;
      if (signal?.aborted) {
        shed.aborted++;
        return Promise.reject(signal.reason);
      }
      let resolve!: (value: unknown) => void;
      let reject!: (reason: unknown) => void;
      const promise = new Promise<unknown>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const entry: Entry = {
        task,
        cost,
        enqueuedAtMs: clock(),
        maxWaitMs:
          options.maxWait === undefined
            ? maxWaitMs
            : Math.min(maxWaitMs, parseDuration(options.maxWait, 'maxWait')),
        signal,
        resolve,
        reject,
        state: 'queued',
        timer: undefined,
        controller: undefined,
        letGo: undefined,
        onAbort: () => {
          if (entry.state === 'queued') removeEntry(entry, signal!.reason, 'aborted');
          else entry.controller?.abort(signal!.reason);
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      queue.push(entry, priority);
      pump();
      if (entry.state === 'queued') {
        if (queue.size > maxQueue) removeEntry(entry, new QueueFullError(maxQueue), 'full');
        else if (entry.maxWaitMs !== Number.POSITIVE_INFINITY) armTimeout(entry);
      }
      return promise as Promise<T>;
    },
    closeGate(untilMs) {
      if (typeof untilMs !== 'number' || Number.isNaN(untilMs)) fail('untilMs', 'a time in ms', untilMs);
      if (untilMs > gate) shared?.closeGate(untilMs - clock());
      gate = Math.max(gate, untilMs);
      pump();
    },
    clear(reason) {
      let count = 0;
      for (let head = queue.peek(); head !== undefined; head = queue.peek()) {
        removeEntry(head, reason, 'cleared');
        count++;
      }
      return count;
    },
    gateUntilMs: () => gate,
    setConcurrency(value) {
      concurrency = checkConcurrency(value);
      pump();
    },
    setLimits(value) {
      limits = checkLimits(value);
      pump();
    },
    setSpacing(ms) {
      if (typeof ms !== 'number' || !(ms >= 0) || ms === Number.POSITIVE_INFINITY)
        fail('spacing', 'a finite number of ms ≥ 0', ms);
      spacingMs = ms;
      pump();
    },
    stats: () => ({
      queued: queue.size,
      running: counts.running,
      peakRunning: counts.peakRunning,
      started: counts.started,
      completed: counts.completed,
      failed: counts.failed,
      shed: { ...shed },
      queueWaitTotalMs: counts.waitTotal,
      queueWaitMaxMs: counts.waitMax,
      averageRunning: averageRunning(),
    }),
  };
}
