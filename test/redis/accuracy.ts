import {
  fixedWindow,
  type Limit,
  type LimitState,
  slidingWindow,
  step,
  tokenBucket,
  withId,
} from '../../src/index.js';

/** What a scenario promises: at most `limit` per aligned window of `windowMs` (and `burst` + rate for a bucket). */
export interface Bound {
  readonly limit: number;
  readonly windowMs: number;
}

export type Scenario =
  | { readonly name: string; readonly kind: 'sluice'; readonly limit: Limit; readonly bound: Bound }
  | {
      readonly name: string;
      readonly kind: 'rate-limiter-flexible' | 'rate-limit-redis';
      readonly bound: Bound;
    };

/** Every scenario of the accuracy test: sluice's three algorithms and the two Redis peers, side by side. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'sluice tokenBucket 100/s burst 10',
    kind: 'sluice',
    limit: withId(tokenBucket({ rate: 100, per: '1s', burst: 10 }), 'accuracy-bucket'),
    bound: { limit: 110, windowMs: 1000 }, // burst + rate × window
  },
  {
    name: 'sluice fixedWindow 100/1s',
    kind: 'sluice',
    limit: withId(fixedWindow({ limit: 100, window: '1s' }), 'accuracy-fixed'),
    bound: { limit: 100, windowMs: 1000 },
  },
  {
    name: 'sluice slidingWindow 100/1s',
    kind: 'sluice',
    limit: withId(slidingWindow({ limit: 100, window: '1s' }), 'accuracy-sliding'),
    bound: { limit: 100, windowMs: 1000 },
  },
  {
    name: 'rate-limiter-flexible 100/1s',
    kind: 'rate-limiter-flexible',
    bound: { limit: 100, windowMs: 1000 },
  },
  { name: 'rate-limit-redis 100/1s', kind: 'rate-limit-redis', bound: { limit: 100, windowMs: 1000 } },
];

/** One worker's record per scenario: admission times, and the time span of all its decisions. */
export type WorkerReport = Record<
  string,
  { admitted: number[]; attempts: number[]; first: number; last: number; calls: number }
>;

/** Most admissions in any interval `[t, t + spanMs)`, from sorted times. */
export function maxInAnyInterval(times: readonly number[], spanMs: number): number {
  let most = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while (times[end]! - times[start]! >= spanMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

/** Most admissions in one epoch-aligned window of `windowMs`. */
export function maxInAlignedWindow(times: readonly number[], windowMs: number): number {
  const counts = new Map<number, number>();
  for (const t of times)
    counts.set(Math.floor(t / windowMs), (counts.get(Math.floor(t / windowMs)) ?? 0) + 1);
  return Math.max(0, ...counts.values());
}

/**
 * How far sorted admission times exceed a token bucket: the largest `count(i..j) - (burst + rate·(t_j - t_i))`
 * over every pair. ≤ 0 means no interval ever admitted more than the bucket allows.
 */
export function bucketExcess(times: readonly number[], burst: number, ratePerMs: number): number {
  let excess = Number.NEGATIVE_INFINITY;
  let lowest = Number.POSITIVE_INFINITY; // min over i ≤ j of (i - rate·t_i)
  for (const [j, t] of times.entries()) {
    lowest = Math.min(lowest, j - ratePerMs * t);
    excess = Math.max(excess, j - ratePerMs * t - lowest + 1 - burst);
  }
  return excess;
}

/** How many of these attempts (sorted times) one caller would be admitted, replaying the pure algorithm. */
export function replayAdmissions(limit: Limit, attempts: readonly number[]): number {
  let state: LimitState | undefined;
  let admitted = 0;
  for (const t of attempts) {
    const result = step(state as never, t, limit, 1);
    if (result.decision.allowed) {
      state = result.state;
      admitted++;
    }
  }
  return admitted;
}

/**
 * The most a perfectly greedy caller could be admitted by `limit` between `firstMs` and `lastMs` (whole
 * ms, starting from no state): the pure algorithm, asked at every millisecond until it says no.
 */
export function idealAdmissions(limit: Limit, firstMs: number, lastMs: number): number {
  let state: LimitState | undefined;
  let admitted = 0;
  for (let t = firstMs; t <= lastMs; t++) {
    for (;;) {
      const result = step(state as never, t, limit, 1);
      if (!result.decision.allowed) break;
      state = result.state;
      admitted++;
    }
  }
  return admitted;
}
