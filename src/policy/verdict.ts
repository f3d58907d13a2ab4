import type { Decision, DegradedReason, Outcome } from '../core/decision.js';
import { capacityOf, type Limit } from '../core/limits.js';
import {
  type HeaderOptions,
  type QuotaReport,
  type ResponseReport,
  rateLimitHeaders,
} from '../http/headers.js';
import type { RejectionContext, RejectionResponse, ViolatedPolicy } from '../http/rejection.js';
import type { AcquireResult } from '../store/types.js';
import type { Policy, PolicyMode } from './types.js';

/**
 * What one policy made of a request.
 *
 * @example
 * ```ts
 * for (const applied of verdict.applied) log.info({ policy: applied.policy.name, key: applied.key });
 * ```
 */
export interface AppliedPolicy {
  readonly policy: Policy;
  readonly mode: Exclude<PolicyMode, 'off'>;
  /** The key its budget is kept under (API keys hashed). */
  readonly key: string;
  /** One decision per limit, in the policy's order (empty for a concurrency-only policy). */
  readonly decisions: readonly Decision[];
  /** Its concurrency answer, when it has a concurrency limit and the rate limits allowed. */
  readonly lease?: AcquireResult;
}

/**
 * The enforcer's answer: whether the request goes on, the header fields to add to its response, and the
 * rejection to send instead when it does not.
 *
 * @example
 * ```ts
 * const verdict = await enforcer.decide(request);
 * for (const [name, value] of verdict.headers) res.setHeader(name, value);
 * if (verdict.rejection) return send(verdict.rejection);
 * res.on('close', () => void verdict.release());
 * ```
 */
export interface Verdict {
  /** False only when an enforcing policy denied (shadow policies never reject). */
  readonly allowed: boolean;
  readonly applied: readonly AppliedPolicy[];
  /** Header fields for the response, allowed or not. */
  readonly headers: readonly [string, string][];
  /** The response to send instead of the application's, when not allowed. */
  readonly rejection?: RejectionResponse;
  /** Whether the request holds concurrency leases (that `release` gives back). */
  readonly holdsLeases: boolean;
  /** Gives back the concurrency leases the request holds; call when the response finishes or the client goes away. */
  release(): Promise<void>;
  /**
   * Set only when a degraded store decided the rate limits (see `createResilientStore`): `store-timeout`,
   * `store-error` or `fallback`.
   */
  readonly degraded?: DegradedReason;
}

/** A matched policy and the key its budget is kept under. */
export interface Matched {
  readonly policy: Policy;
  readonly key: string;
}

/** Everything the store said about one request, for {@link verdictOf}. */
export interface Answers {
  readonly nowMs: number;
  readonly found: readonly Matched[];
  readonly enforced: Outcome | undefined;
  readonly shadowed: Outcome | undefined;
  /** The enforcing budgets as read (not spent) for a request turned away for concurrency. */
  readonly peeked?: Outcome | undefined;
  /** Each concurrency policy's answer (absent without concurrency policies). */
  readonly leases: ReadonlyMap<Policy, AcquireResult> | undefined;
  /** The enforcing concurrency policy that turned the request away, if one did. */
  readonly concurrencyDenied: { readonly policy: Policy; readonly result: AcquireResult } | undefined;
  readonly holdsLeases: boolean;
  readonly release: () => Promise<void>;
}

/** A policy's window as clients see it: a window's length, or the time a bucket takes to refill. */
const windowOf = (limit: Limit): number =>
  limit.kind === 'tokenBucket' ? limit.burst * limit.intervalMs : limit.windowMs;
/** A limit's name as clients see it: the policy's, qualified by the limit's when the policy has several. */
const quotaName = (policy: Policy, limit: Limit): string =>
  policy.limits.length === 1 ? policy.name : `${policy.name}:${limit.name}`;

/** The decisions of each matched policy: its slice of its mode's outcome. */
function eachDecisions(
  answers: Answers,
  visit: (matched: Matched, shadow: boolean, all: readonly Decision[] | undefined, start: number) => void,
): void {
  let enforcedAt = 0;
  let shadowedAt = 0;
  for (const matched of answers.found) {
    const shadow = matched.policy.mode === 'shadow';
    const outcome = shadow ? answers.shadowed : (answers.enforced ?? answers.peeked);
    visit(matched, shadow, outcome?.decisions, shadow ? shadowedAt : enforcedAt);
    if (shadow) shadowedAt += matched.policy.limits.length;
    else enforcedAt += matched.policy.limits.length;
  }
}

/** The applied policies of a verdict: built when first read (most handlers never read them). */
function appliedOf(answers: Answers): AppliedPolicy[] {
  const applied: AppliedPolicy[] = [];
  eachDecisions(answers, ({ policy, key }, shadow, all, start) => {
    const count = policy.limits.length;
    // One policy behind the whole outcome (the common case) takes its decisions as they are.
    const decisions =
      all === undefined ? [] : start === 0 && all.length === count ? all : all.slice(start, start + count);
    const mode = shadow ? 'shadow' : 'enforce';
    const lease = answers.leases?.get(policy);
    applied.push(
      lease === undefined ? { policy, mode, key, decisions } : { policy, mode, key, decisions, lease },
    );
  });
  return applied;
}

/** A verdict whose `applied` list is built on first read. */
class LazyVerdict implements Verdict {
  readonly allowed: boolean;
  readonly headers: readonly [string, string][];
  readonly rejection?: RejectionResponse;
  readonly holdsLeases: boolean;
  readonly release: () => Promise<void>;
  readonly degraded?: DegradedReason;
  #answers: Answers;
  #applied: AppliedPolicy[] | undefined;
  constructor(answers: Answers, headers: [string, string][], rejection?: RejectionResponse) {
    this.allowed = rejection === undefined;
    this.headers = headers;
    if (rejection !== undefined) this.rejection = rejection;
    this.holdsLeases = rejection === undefined && answers.holdsLeases;
    this.release = answers.release;
    const degraded = answers.enforced?.reason ?? answers.shadowed?.reason;
    if (degraded !== undefined) this.degraded = degraded;
    this.#answers = answers;
  }
  get applied(): readonly AppliedPolicy[] {
    this.#applied ??= appliedOf(this.#answers);
    return this.#applied;
  }
}

/**
 * Builds the verdict from the store's answers: the applied policies, the header fields of every applied
 * limit, and the rejection when an enforcing policy denied.
 */
export function verdictOf(
  answers: Answers,
  headerOptions: HeaderOptions | undefined,
  reject: (context: RejectionContext) => RejectionResponse,
): Verdict {
  const { nowMs, enforced, leases, concurrencyDenied } = answers;
  const quotas: QuotaReport[] = [];
  eachDecisions(answers, ({ policy }, shadow, all, start) => {
    if (all === undefined) return;
    for (let i = 0; i < policy.limits.length; i++) {
      const limit = policy.limits[i]!;
      const decision = all[start + i]!;
      quotas.push({
        name: quotaName(policy, limit),
        quota: capacityOf(limit),
        windowMs: windowOf(limit),
        remaining: decision.remaining,
        resetAfterMs: decision.resetAfterMs,
        shadow,
      });
    }
  });
  const rateAllowed = enforced?.allowed ?? true;
  let concurrency: AcquireResult | undefined;
  if (leases !== undefined) for (const { policy } of answers.found) concurrency ??= leases.get(policy);
  const report: { -readonly [K in keyof ResponseReport]: ResponseReport[K] } = { nowMs, quotas };
  if (!rateAllowed) report.retryAfterMs = enforced!.retryAfterMs;
  if (concurrency !== undefined)
    report.concurrency = { limit: concurrency.max, current: concurrency.current };
  const headers = rateLimitHeaders(report, headerOptions);
  if (rateAllowed && concurrencyDenied === undefined) return new LazyVerdict(answers, headers);

  let rejection: RejectionResponse;
  if (!rateAllowed) {
    const policies: ViolatedPolicy[] = [];
    for (const { policy, mode, decisions } of appliedOf(answers)) {
      if (mode !== 'enforce') continue;
      for (const [i, d] of decisions.entries()) {
        if (d.allowed) continue;
        policies.push({
          name: quotaName(policy, policy.limits[i]!),
          limit: d.limit,
          remaining: d.remaining,
          resetAfterMs: d.resetAfterMs,
          retryAfterMs: d.retryAfterMs,
        });
      }
    }
    rejection = reject({ cause: 'rate', nowMs, retryAfterMs: enforced!.retryAfterMs, policies });
  } else {
    const { policy, result } = concurrencyDenied!;
    rejection = reject({
      cause: 'concurrency',
      nowMs,
      concurrency: { limit: result.max, current: result.current, policy: policy.name },
    });
  }
  return new LazyVerdict(answers, headers, { ...rejection, headers: [...headers, ...rejection.headers] });
}
