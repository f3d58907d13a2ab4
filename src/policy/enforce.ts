import { type Clock, systemClock } from '../core/clock.js';
import type { Decision, Outcome } from '../core/decision.js';
import { capacityOf, type Limit } from '../core/limits.js';
import { type ClientIpOptions, createClientIp } from '../http/client-ip.js';
import {
  type HeaderOptions,
  type QuotaReport,
  type ResponseReport,
  rateLimitHeaders,
} from '../http/headers.js';
import { createRejection, type RejectionOptions, type RejectionResponse } from '../http/rejection.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import type { AcquireResult, Check, Lease, Store } from '../store/types.js';
import type { Policy, PolicyMode, PolicySet } from './config.js';
import { createKeyOf, type RequestInfo } from './keys.js';
import { classOf, normalisedPath, segmentsOf } from './match.js';

export type { RequestInfo } from './keys.js';

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
}

/**
 * Options of {@link createEnforcer}.
 *
 * @example
 * ```ts
 * const options: EnforcerOptions = { policies: loadPolicies(text), clientIp: { trustProxy: ['10.0.0.0/8'] } };
 * ```
 */
export interface EnforcerOptions {
  readonly policies: PolicySet;
  /** @default createMemoryStore() */
  readonly store?: Store;
  readonly clientIp?: ClientIpOptions;
  readonly headers?: HeaderOptions;
  readonly rejection?: RejectionOptions;
  /** @default Date.now */
  readonly clock?: Clock;
  /**
   * A deployment secret: API keys and bearer tokens are then keyed by an HMAC rather than a plain SHA-256,
   * so that keys seen in the store cannot be brute-forced back to low-entropy tokens.
   */
  readonly keySecret?: string;
}

/**
 * The framework-neutral enforcement an adapter calls once per request.
 *
 * @example
 * ```ts
 * const enforcer: Enforcer = createEnforcer({ policies });
 * ```
 */
export interface Enforcer {
  decide(request: RequestInfo): Promise<Verdict>;
}

const NO_PARAMS: Record<string, string> = Object.freeze({});

/** A policy's window as clients see it: a window's length, or the time a bucket takes to refill. */
const windowOf = (limit: Limit): number =>
  limit.kind === 'tokenBucket' ? limit.burst * limit.intervalMs : limit.windowMs;

/**
 * Creates the enforcer: for each request it finds the matching policies, builds each one's key, checks
 * every rate limit of every enforcing policy in **one atomic store call** (a request denied by one policy
 * consumes nothing from the others), then takes the concurrency leases; shadow policies are counted in a
 * call of their own and never reject. It announces every applied policy in the response's headers.
 *
 * @example
 * ```ts
 * const enforcer = createEnforcer({ policies: loadPolicies(readFileSync('sluice.yaml', 'utf8')) });
 * const verdict = await enforcer.decide({ method: 'GET', path: '/items', headers: {}, remoteAddress: '203.0.113.9' });
 * ```
 */
export function createEnforcer(options: EnforcerOptions): Enforcer {
  const store = options.store ?? createMemoryStore();
  const clock = options.clock ?? systemClock;
  const reject = createRejection(options.rejection);
  const active = options.policies.policies.filter((policy) => policy.mode !== 'off');
  const withConcurrency = active.some((policy) => policy.concurrency !== undefined);
  const keyOf = createKeyOf({ clientIp: createClientIp(options.clientIp), keySecret: options.keySecret });
  /** Gives back (once) every lease in `leases`; a failed release is left to the lease's expiry. */
  const releaseAll = async (leases: Lease[]): Promise<void> => {
    if (leases.length === 0) return;
    const held = leases.splice(0);
    await Promise.all(held.map((lease) => store.release(lease).catch(() => false)));
  };

  /**
   * Keeps the leases of a request in flight alive: each is renewed every half of its policy's `ttl`, so a
   * long request (a stream, a slow upstream) keeps its slot; a crashed process stops renewing, and its
   * leases expire. The timer never keeps the process alive.
   */
  function keepAlive(leases: readonly Lease[], ttls: readonly number[]) {
    const timer = setInterval(
      () => {
        // Stores renew by key and id: the lease objects themselves need no update.
        for (const [i, lease] of leases.entries()) store.renew(lease, ttls[i]!).catch(() => undefined);
      },
      Math.max(1, Math.min(...ttls) / 2),
    );
    timer.unref?.();
    return timer;
  }

  function matching(request: RequestInfo) {
    // Frameworks answer HEAD with the GET handler: a HEAD request is limited as the GET it stands for.
    const given = request.method.toUpperCase();
    const method = given === 'HEAD' ? 'GET' : given;
    const requestClass = classOf(method);
    const found: { policy: Policy; key: string }[] = [];
    let path: string | undefined;
    let segments: string[] | undefined;
    for (const policy of active) {
      if (policy.methods !== undefined && !policy.methods.has(method) && !policy.methods.has(given)) continue;
      if (policy.classes !== undefined && !policy.classes.has(requestClass)) continue;
      let params = NO_PARAMS;
      // The endpoint is part of the key only with scope `endpoint`: the path is normalised only then.
      let endpoint = '';
      if (policy.scope === 'endpoint' && policy.paths === undefined) {
        path ??= normalisedPath(request.path);
        endpoint = path;
      }
      if (policy.paths !== undefined) {
        let hit: { params: Record<string, string>; endpoint: string } | undefined;
        segments ??= segmentsOf(request.path);
        for (const pattern of policy.paths) {
          hit = pattern.matchSegments(segments);
          if (hit !== undefined) break;
        }
        if (hit === undefined) continue;
        ({ params, endpoint } = hit);
      }
      const key = keyOf(policy, request, params, method, endpoint);
      if (key !== undefined) found.push({ policy, key });
    }
    return found;
  }

  return {
    async decide(request) {
      const nowMs = clock();
      const found = matching(request);
      const leases: Lease[] = [];
      const ttls: number[] = []; // each lease's policy ttl, for renewals
      let renewal: ReturnType<typeof setInterval> | undefined;
      const release = () => {
        if (renewal !== undefined) clearInterval(renewal);
        return releaseAll(leases);
      };

      // Concurrency first: a request turned away for concurrency spends no rate budget, and one turned away
      // for rate holds no slot.
      const leaseOf = withConcurrency ? new Map<Policy, AcquireResult>() : undefined;
      let concurrencyDenied: { limit: number; current: number } | undefined;
      if (withConcurrency)
        try {
          for (const { policy, key } of found) {
            if (policy.concurrency === undefined || concurrencyDenied !== undefined) continue;
            const result = await store.acquire(
              `policy:${policy.name.replaceAll('%', '%25').replaceAll('|', '%7C')}|${key}`,
              policy.concurrency.max,
              policy.concurrency.ttlMs,
            );
            leaseOf!.set(policy, result);
            if (result.acquired) {
              leases.push(result.lease);
              ttls.push(policy.concurrency.ttlMs);
            } else if (policy.mode === 'enforce')
              concurrencyDenied = { limit: result.max, current: result.current };
          }
        } catch (error) {
          await release();
          throw error;
        }
      if (concurrencyDenied !== undefined) await release();

      const enforced: Check[] = [];
      const shadowed: Check[] = [];
      for (const { policy, key } of found) {
        const into = policy.mode === 'enforce' ? enforced : shadowed;
        if (into === enforced && concurrencyDenied !== undefined) continue;
        for (const limit of policy.limits) into.push({ limit, key, cost: policy.cost });
      }
      let enforceOutcome: Outcome | undefined;
      let shadowOutcome: Outcome | undefined;
      try {
        if (enforced.length > 0 && shadowed.length > 0) {
          // A shadow policy never affects the response, its store failing included.
          const [enforcedResult, shadowResult] = await Promise.allSettled([
            store.consume(enforced),
            store.consume(shadowed),
          ]);
          if (enforcedResult.status === 'rejected') throw enforcedResult.reason;
          enforceOutcome = enforcedResult.value;
          shadowOutcome = shadowResult.status === 'fulfilled' ? shadowResult.value : undefined;
        } else if (enforced.length > 0) {
          enforceOutcome = await store.consume(enforced);
        } else if (shadowed.length > 0) {
          shadowOutcome = await store.consume(shadowed).catch(() => undefined);
        }
      } catch (error) {
        // No verdict, so nobody could release the slots taken above: give them back now.
        await release();
        throw error;
      }
      const rateAllowed = enforceOutcome?.allowed ?? true;
      if (!rateAllowed) await release();

      let enforcedAt = 0;
      let shadowedAt = 0;
      const applied: AppliedPolicy[] = [];
      for (const { policy, key } of found) {
        const mode = policy.mode as Exclude<PolicyMode, 'off'>;
        const outcome = mode === 'enforce' ? enforceOutcome : shadowOutcome;
        const start = mode === 'enforce' ? enforcedAt : shadowedAt;
        if (mode === 'enforce') enforcedAt += policy.limits.length;
        else shadowedAt += policy.limits.length;
        const decisions =
          outcome === undefined ? [] : outcome.decisions.slice(start, start + policy.limits.length);
        const lease = leaseOf?.get(policy);
        applied.push(
          lease === undefined ? { policy, mode, key, decisions } : { policy, mode, key, decisions, lease },
        );
      }

      const quotas: QuotaReport[] = [];
      for (const { policy, mode, decisions } of applied) {
        for (const [i, decision] of decisions.entries()) {
          const limit = policy.limits[i]!;
          quotas.push({
            name: policy.limits.length === 1 ? policy.name : `${policy.name}:${limit.name}`,
            quota: capacityOf(limit),
            windowMs: windowOf(limit),
            remaining: decision.remaining,
            resetAfterMs: decision.resetAfterMs,
            shadow: mode === 'shadow',
          });
        }
      }
      const concurrency =
        leaseOf === undefined ? undefined : applied.find((a) => a.lease !== undefined)?.lease;
      const report: ResponseReport = { nowMs, quotas };
      if (!rateAllowed) (report as { retryAfterMs?: number }).retryAfterMs = enforceOutcome!.retryAfterMs;
      if (concurrency !== undefined)
        (report as { concurrency?: ResponseReport['concurrency'] }).concurrency = {
          limit: concurrency.max,
          current: concurrency.current,
        };
      const headers = rateLimitHeaders(report, options.headers);
      if (rateAllowed && concurrencyDenied === undefined) {
        if (leases.length > 0) renewal = keepAlive(leases, ttls);
        return { allowed: true, applied, headers, holdsLeases: leases.length > 0, release };
      }

      const violated = applied
        .filter((a) => a.mode === 'enforce')
        .flatMap(({ policy, decisions }) =>
          decisions
            .map((d, i) => ({ d, limit: policy.limits[i]! }))
            .filter(({ d }) => !d.allowed)
            .map(({ d, limit }) => ({
              name: policy.limits.length === 1 ? policy.name : `${policy.name}:${limit.name}`,
              limit: d.limit,
              remaining: d.remaining,
              resetAfterMs: d.resetAfterMs,
              retryAfterMs: d.retryAfterMs,
            })),
        );
      const rejection = rateAllowed
        ? reject({ cause: 'concurrency', nowMs, concurrency: concurrencyDenied! })
        : reject({ cause: 'rate', nowMs, retryAfterMs: enforceOutcome!.retryAfterMs, policies: violated });
      return {
        allowed: false,
        applied,
        headers,
        holdsLeases: false,
        rejection: { ...rejection, headers: [...headers, ...rejection.headers] },
        release,
      };
    },
  };
}
