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
}

/**
 * The one class of every decision (one hidden class for V8). A decision is also the {@link Outcome} of a
 * request that had a single check: its `decisions` getter lists just itself, so the single-limit fast path
 * allocates one object per decision.
 */
class DecisionRecord implements Outcome {
  // `declare`: no class-field initialisers, so each field is written once, with its number representation.
  declare readonly allowed: boolean;
  declare readonly limit: number;
  declare readonly remaining: number;
  declare readonly resetAfterMs: number;
  declare readonly retryAfterMs: number;

  constructor(allowed: boolean, limit: number, remaining: number, resetAfterMs: number, retryAfterMs: number) {
    this.allowed = allowed;
    this.limit = limit;
    this.remaining = remaining;
    this.resetAfterMs = resetAfterMs;
    this.retryAfterMs = retryAfterMs;
  }

  get decisions(): readonly Decision[] {
    return [this];
  }
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
  if (binding === undefined)
    return { ...decision(true, 0, 0, 0, 0), remaining: Number.POSITIVE_INFINITY, decisions };
  return {
    allowed,
    limit: binding.limit,
    remaining,
    resetAfterMs: binding.resetAfterMs,
    retryAfterMs: allowed ? 0 : binding.retryAfterMs,
    decisions,
  };
}

/** The outcome of a single check: the decision itself (see {@link DecisionRecord}). */
export function single(d: Decision): Outcome {
  return d as DecisionRecord;
}
