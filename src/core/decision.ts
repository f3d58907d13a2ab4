/**
 * The answer of one limit to one request. A decision is a value, never a throw.
 *
 * @example
 * ```ts
 * const { decision } = tokenBucketStep(undefined, Date.now(), tokenBucket({ rate: 10, burst: 60 }), 1);
 * decision; // { allowed: true, limit: 60, remaining: 59, resetAfterMs: 100, retryAfterMs: 0 }
 * ```
 */
export interface Decision {
  /** Whether the request may proceed. When false, nothing was consumed. */
  readonly allowed: boolean;
  /** The limit's capacity: `burst` for a token bucket, `limit` for a window. */
  readonly limit: number;
  /** Whole units of cost still available after this request (before it, when denied). Never negative. */
  readonly remaining: number;
  /** Milliseconds until the limit has fully recovered: a full bucket, an empty window. */
  readonly resetAfterMs: number;
  /**
   * 0 when allowed. When denied: the whole number of milliseconds after which the same request would be
   * allowed, if nothing else is consumed meanwhile; `Infinity` if its cost exceeds the capacity.
   */
  readonly retryAfterMs: number;
}

/**
 * The combined answer of every limit checked for one request, as returned by a store's `consume`.
 * The scalar fields are the most restrictive across all decisions.
 *
 * @example
 * ```ts
 * const outcome = await limiter.consume('user-42');
 * if (!outcome.allowed) res.setHeader('Retry-After', Math.ceil(outcome.retryAfterMs / 1000));
 * ```
 */
export interface Outcome extends Decision {
  /** One decision per check, in the order of the checks. */
  readonly decisions: readonly Decision[];
  /**
   * Set only when the store could not decide normally (see `createResilientStore`): `store-timeout` or
   * `store-error` when the failure mode allowed or denied without the store, `fallback` when a local
   * stand-in store decided.
   */
  readonly reason?: DegradedReason;
  /**
   * The time of the decision on the store's clock (ms), when the store reports it: the Redis store does,
   * so that `atMs + resetAfterMs` is an absolute reset time on the shared clock.
   */
  readonly atMs?: number;
}

/**
 * Why an outcome was decided in degraded mode.
 *
 * @example
 * ```ts
 * const reason: DegradedReason | undefined = outcome.reason;
 * if (reason !== undefined) metrics.increment(`limiter.degraded.${reason}`);
 * ```
 */
export type DegradedReason = 'store-timeout' | 'store-error' | 'fallback';

/**
 * The one class of every decision (one hidden class for V8). A decision is also the {@link Outcome} of a
 * request that had a single check: `decisions` then lists just itself, so the single-limit path allocates
 * one object per decision — or none, when the caller lends a {@link DecisionBuffer}.
 */
class DecisionRecord implements Outcome {
  // `declare`: no class-field initialisers, so each field is written once, with its number representation.
  declare allowed: boolean;
  declare limit: number;
  declare remaining: number;
  declare resetAfterMs: number;
  declare retryAfterMs: number;
  /** Per-limit decisions when this record holds a combined outcome; otherwise the record is its own. */
  declare list: readonly Decision[] | undefined;

  // The constructor writes its fields itself rather than calling `fill`: measurably faster for a class
  // allocated once per decision.
  constructor(
    allowed: boolean,
    limit: number,
    remaining: number,
    resetAfterMs: number,
    retryAfterMs: number,
  ) {
    this.allowed = allowed;
    this.limit = limit;
    this.remaining = remaining;
    this.resetAfterMs = resetAfterMs;
    this.retryAfterMs = retryAfterMs;
    this.list = undefined;
  }

  get decisions(): readonly Decision[] {
    return this.list ?? [this];
  }

  /** The same JSON for every outcome, whether it had one check or several. */
  toJSON() {
    return { ...fields(this), decisions: this.decisions.map(fields) };
  }
}

const fields = ({ allowed, limit, remaining, resetAfterMs, retryAfterMs }: Decision): Decision => ({
  allowed,
  limit,
  remaining,
  resetAfterMs,
  retryAfterMs,
});

/**
 * A reusable decision that sluice fills in place: pass it to `consumeInto` to decide without allocating.
 * Its fields are valid until the next call that reuses it. Make one with {@link createDecisionBuffer}.
 *
 * @example
 * ```ts
 * const buffer: DecisionBuffer = createDecisionBuffer();
 * limiter.consumeInto('k', buffer).remaining;
 * ```
 */
export interface DecisionBuffer extends Outcome {
  /** Brand: only {@link createDecisionBuffer} makes buffers. */
  readonly [bufferBrand]: true;
}
declare const bufferBrand: unique symbol;

/**
 * Creates a {@link DecisionBuffer} for `limiter.consumeInto`, the zero-allocation path. Reuse one buffer
 * per synchronous call site; read its fields before the next call.
 *
 * @example
 * ```ts
 * const buffer = createDecisionBuffer();
 * function onRequest(key: string) {
 *   const outcome = limiter.consumeInto(key, buffer);
 *   return outcome.allowed ? 200 : 429;
 * }
 * ```
 */
export function createDecisionBuffer(): DecisionBuffer {
  return new DecisionRecord(false, 0, 0, 0, 0) as unknown as DecisionBuffer;
}

/**
 * A fresh, blank record for a kernel to fill. Allocating first and always filling in place keeps the
 * kernels' code on one path, whether the record is new or a caller's {@link DecisionBuffer}.
 */
export function blank(): Outcome {
  return new DecisionRecord(false, 0, 0, 0, 0);
}

/** Writes a decision into `out` and returns it. Kernels decide through this one function. */
export function fill(
  out: Outcome,
  allowed: boolean,
  limit: number,
  remaining: number,
  resetAfterMs: number,
  retryAfterMs: number,
): Outcome {
  const record = out as DecisionRecord;
  record.allowed = allowed;
  record.limit = limit;
  record.remaining = remaining;
  record.resetAfterMs = resetAfterMs;
  record.retryAfterMs = retryAfterMs;
  record.list = undefined;
  return record;
}

/** Copies a combined outcome into a lent buffer. */
export function fillOutcome(out: Outcome, outcome: Outcome): Outcome {
  const record = fill(
    out,
    outcome.allowed,
    outcome.limit,
    outcome.remaining,
    outcome.resetAfterMs,
    outcome.retryAfterMs,
  );
  (record as DecisionRecord).list = outcome.decisions;
  return record;
}

/**
 * Builds a decision.
 *
 * @example
 * ```ts
 * decision(false, 60, 0, 6000, 100); // denied, retry in 100 ms
 * ```
 */
export function decision(
  allowed: boolean,
  limit: number,
  remaining: number,
  resetAfterMs: number,
  retryAfterMs: number,
): Decision {
  return new DecisionRecord(allowed, limit, remaining, resetAfterMs, retryAfterMs);
}

/**
 * Combines per-limit decisions into an {@link Outcome}: allowed only if every decision allows;
 * `remaining` is the least remaining, `retryAfterMs` the longest wait; `limit` and `resetAfterMs` come from
 * the binding decision (the denial with the longest wait, or else the one with the least remaining).
 *
 * @example
 * ```ts
 * combine([decision(true, 10, 3, 500, 0), decision(false, 60, 0, 9000, 200)]).retryAfterMs; // 200
 * ```
 */
export function combine(decisions: readonly Decision[]): Outcome {
  let allowed = true;
  let binding: Decision | undefined;
  let remaining = Number.POSITIVE_INFINITY;
  for (const d of decisions) {
    if (d.remaining < remaining) remaining = d.remaining;
    if (!d.allowed) {
      if (allowed || d.retryAfterMs > binding!.retryAfterMs) binding = d;
      allowed = false;
    } else if (allowed && (binding === undefined || d.remaining < binding.remaining)) {
      binding = d;
    }
  }
  const outcome = new DecisionRecord(
    allowed,
    binding?.limit ?? 0,
    remaining,
    binding?.resetAfterMs ?? 0,
    allowed ? 0 : binding!.retryAfterMs,
  );
  outcome.list = decisions;
  return outcome;
}
