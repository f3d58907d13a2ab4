/**
 * Pacing learned from what a server reports, for a class of the client. Two controls, both expressed as a
 * spacing between request starts (see `Scheduler.setSpacing`):
 *
 * - **Refill pacing** (adaptive): a server that reports `remaining` but no window (a token bucket such as the
 *   Merchant API's `RateLimit-Limit`/`RateLimit-Remaining`) still tells its refill rate: between two
 *   responses, `remaining` rose by the refill and fell by what the client spent. While `remaining` is above a
 *   low-water mark the class runs freely; at or below it, starts are spaced at the estimated refill rate
 *   (times the margin, and slower the closer `remaining` gets to 0), so the budget is spent as it refills and
 *   never runs out. Without an estimate, the remaining budget is spread over the time to its reset, or
 *   when that is unknown over the time observed so far.
 * - **AIMD on repeated 429**: a second 429 within `REPEAT_WINDOW_MS` halves the start rate (measured over
 *   the recent starts); each run of `RECOVER_EVERY` successes adds back a tenth of the rate that was cut,
 *   until it is back where it was, and the cut is lifted.
 */
import { RECOVER_EVERY } from './client-adapt.js';

/**
 * A response's report of its binding quota, as the pacer needs it.
 *
 * @example
 * ```ts
 * const report: QuotaReport = { remaining: 7, limit: 60 };
 * ```
 */
export interface QuotaReport {
  readonly remaining: number;
  readonly limit?: number;
  readonly resetAfterMs?: number;
}

/**
 * What `Pacer.onThrottle` and `Pacer.onSuccess` changed: the AIMD rate cap before and after, in starts per
 * second (`undefined`: no cap).
 *
 * @example
 * ```ts
 * const change: RateChange = { to: 4.5, reason: 'throttled' }; // a first cut, from no cap to 4.5/s
 * ```
 */
export interface RateChange {
  readonly from?: number;
  readonly to?: number;
  readonly reason: 'throttled' | 'recovery';
}

/**
 * The pacing state of one class, made by {@link createPacer}.
 *
 * @example
 * ```ts
 * const pacer: Pacer = createPacer(0.9);
 * ```
 */
export interface Pacer {
  /** Records a response's quota at `nowMs`; `spent` when the request took budget (not a 429 or 409). */
  observe(nowMs: number, quota: QuotaReport, spent: boolean): void;
  /** Records a request start (for the measured start rate). */
  started(nowMs: number): void;
  /**
   * A 429 at `nowMs` to a request sent at `sentAtMs`: a repeated one cuts the rate, once per congestion
   * event (a 429 to a request sent before the last cut is part of the same event).
   */
  onThrottle(nowMs: number, sentAtMs?: number): RateChange | undefined;
  /** A 2xx response: recovers a cut rate. */
  onSuccess(): RateChange | undefined;
  /** The spacing between starts now, in ms (0: none), for a class running at most `concurrency` at once. */
  spacingMs(concurrency: number): number;
  /** The estimated refill rate per second, when known. */
  refillPerSecond(): number | undefined;
  /** The AIMD rate cap per second, when a repeated 429 set one. */
  rateCap(): number | undefined;
}

/**
 * Two 429s closer than this (ms) are "repeated", and cut the rate.
 *
 * @example
 * ```ts
 * REPEAT_WINDOW_MS; // 30000
 * ```
 */
export const REPEAT_WINDOW_MS = 30_000;
/** Samples kept for the refill estimate. */
const SAMPLES = 64;
/** Fewest samples, and least refill seen, for an estimate. */
const MIN_SAMPLES = 8;
const MIN_REFILL = 3;
/** Starts kept for the measured start rate. */
const STARTS = 32;

interface Sample {
  readonly atMs: number;
  readonly remaining: number;
  readonly spent: number;
}

/**
 * Creates the pacing state of a class; `margin` is the share of the estimated refill rate to run at.
 *
 * @example
 * ```ts
 * const pacer = createPacer(0.9);
 * pacer.observe(clock(), { remaining: 7, limit: 60 }, true);
 * scheduler.setSpacing(pacer.spacingMs(5));
 * ```
 */
export function createPacer(margin: number): Pacer {
  let samples: Sample[] = [];
  let spent = 0;
  let maxSeen = 0;
  let last: QuotaReport | undefined;
  const starts: number[] = [];
  let lastThrottleMs = Number.NEGATIVE_INFINITY;
  let lastCutMs = Number.NEGATIVE_INFINITY;
  let cut: { rate: number; before: number; successes: number } | undefined;

  const refillPerMs = (): number | undefined => {
    if (samples.length < MIN_SAMPLES) return undefined;
    const first = samples[0] as Sample;
    const newest = samples[samples.length - 1] as Sample;
    const spanMs = newest.atMs - first.atMs;
    const refill = newest.remaining - first.remaining + (newest.spent - first.spent);
    return spanMs > 0 && refill >= MIN_REFILL ? refill / spanMs : undefined;
  };

  const startRatePerMs = (): number | undefined => {
    if (starts.length < 2) return undefined;
    const spanMs = (starts[starts.length - 1] as number) - (starts[0] as number);
    return spanMs > 0 ? (starts.length - 1) / spanMs : undefined;
  };

  const refillSpacing = (concurrency: number): number => {
    if (last === undefined || maxSeen <= 0) return 0;
    const reserve = Number.isFinite(concurrency) ? 2 * concurrency : 4;
    const lowWater = Math.max(
      1,
      Math.min(Math.max(reserve, Math.ceil(0.1 * maxSeen)), Math.floor(maxSeen / 2)),
    );
    if (last.remaining > lowWater) return 0;
    const perMs = refillPerMs();
    if (perMs !== undefined) return 1 / (perMs * margin * Math.max(0.25, last.remaining / lowWater));
    if (last.resetAfterMs !== undefined && last.resetAfterMs > 0)
      return last.resetAfterMs / Math.max(1, last.remaining * margin);
    // No estimate yet (the budget ran down faster than it refilled enough to measure): spread what is left
    // over at least the time observed so far, so that the refill shows before the budget runs out.
    const first = samples[0];
    const spanMs = first === undefined ? 0 : (samples[samples.length - 1] as Sample).atMs - first.atMs;
    return spanMs > 0 ? spanMs / Math.max(1, last.remaining) : 0;
  };

  return {
    observe(nowMs, quota, didSpend) {
      if (didSpend) spent++;
      maxSeen = Math.max(maxSeen, quota.remaining, quota.limit ?? 0);
      last = quota;
      const sample = { atMs: nowMs, remaining: quota.remaining, spent };
      // A full budget hides the refill (it is capped), and a window's reset jumps it: start afresh.
      const previous = samples[samples.length - 1];
      if (
        quota.remaining >= maxSeen ||
        (previous !== undefined && quota.remaining > previous.remaining + MIN_REFILL * 4)
      )
        samples = [sample];
      else {
        samples.push(sample);
        if (samples.length > SAMPLES) samples.shift();
      }
    },
    started(nowMs) {
      starts.push(nowMs);
      if (starts.length > STARTS) starts.shift();
    },
    onThrottle(nowMs, sentAtMs = nowMs) {
      if (sentAtMs <= lastCutMs) return undefined;
      const repeated = nowMs - lastThrottleMs <= REPEAT_WINDOW_MS;
      lastThrottleMs = nowMs;
      if (!repeated) return undefined;
      const measured = startRatePerMs();
      const current = cut?.rate ?? (measured === undefined ? undefined : measured * 1000);
      if (current === undefined) return undefined;
      const rate = current / 2;
      cut = { rate, before: cut?.before ?? current, successes: 0 };
      lastCutMs = nowMs;
      return { ...(current === cut.before ? {} : { from: current }), to: rate, reason: 'throttled' };
    },
    onSuccess() {
      if (cut === undefined) return undefined;
      cut.successes++;
      if (cut.successes < RECOVER_EVERY) return undefined;
      const from = cut.rate;
      const rate = from + cut.before / 10;
      if (rate >= cut.before * (1 - 1e-9)) {
        cut = undefined;
        return { from, reason: 'recovery' };
      }
      cut = { ...cut, rate, successes: 0 };
      return { from, to: rate, reason: 'recovery' };
    },
    spacingMs(concurrency) {
      const byCut = cut === undefined ? 0 : 1000 / cut.rate;
      return Math.max(refillSpacing(concurrency), byCut);
    },
    refillPerSecond: () => {
      const perMs = refillPerMs();
      return perMs === undefined ? undefined : perMs * 1000;
    },
    rateCap: () => cut?.rate,
  };
}
