import { type Clock, systemClock } from '../core/clock.js';
import type { Outcome } from '../core/decision.js';
import { type ClientIpOptions, createClientIp } from '../http/client-ip.js';
import type { HeaderOptions } from '../http/headers.js';
import { createRejection, type RejectionOptions } from '../http/rejection.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import type { AcquireResult, Check, Lease, Store } from '../store/types.js';
import type { Policy, PolicySet } from './config.js';
import { createKeyOf, type RequestInfo } from './keys.js';
import { classOf, normalisedPath, segmentsOf } from './match.js';
import {
  type Consumed,
  consumeStep,
  runAsync,
  runSync,
  type Step,
  stepAsync,
  stepSync,
  syncOf,
} from './steps.js';
import { type Matched, type Verdict, verdictOf } from './verdict.js';

export type { RequestInfo } from './keys.js';
export type { AppliedPolicy, Verdict } from './verdict.js';

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
  /** Decides a request: the verdict, or a rejected promise when the store fails. */
  decide(request: RequestInfo): Promise<Verdict>;
  /**
   * The same decision, given synchronously when the store answers synchronously (the memory store), as a
   * promise otherwise; it may throw instead of rejecting. Adapters use it to spare a promise per request.
   *
   * @example
   * ```ts
   * const verdict = enforcer.check(request);
   * if (verdict instanceof Promise) return verdict.then(apply, fail);
   * apply(verdict);
   * ```
   */
  check(request: RequestInfo): Verdict | Promise<Verdict>;
}

const NO_PARAMS: Record<string, string> = Object.freeze({});

const NO_RELEASE = (): Promise<void> => Promise.resolve();
const NO_LEASES: Lease[] = Object.freeze([]) as unknown as Lease[];

/**
 * Creates the enforcer: for each request it finds the matching policies and builds each one's key; it takes
 * the concurrency leases first (a request turned away for concurrency spends no rate budget), then checks
 * every rate limit of every enforcing policy in **one atomic store call** (a request denied by one policy
 * consumes nothing from the others); shadow policies are counted in a call of their own and never reject.
 * It announces every applied policy in the response's headers. On the memory store the whole decision is
 * synchronous (`check`).
 *
 * @example
 * ```ts
 * const enforcer = createEnforcer({ policies: loadPolicies(readFileSync('sluice.yaml', 'utf8')) });
 * const verdict = await enforcer.decide({ method: 'GET', path: '/items', headers: {}, remoteAddress: '203.0.113.9' });
 * ```
 */
export function createEnforcer(options: EnforcerOptions): Enforcer {
  const clock = options.clock ?? systemClock;
  // The enforcer's own store shares its clock, so a decision reads the time once.
  const store = options.store ?? createMemoryStore({ clock });
  const sync = syncOf(store);
  const ownStore = options.store === undefined;
  const reject = createRejection(options.rejection);
  const headerOptions = options.headers;
  const active = options.policies.policies.filter((policy) => policy.mode !== 'off');
  const withConcurrency = active.some((policy) => policy.concurrency !== undefined);
  const keyOf = createKeyOf({ clientIp: createClientIp(options.clientIp), keySecret: options.keySecret });
  const unlimited: Verdict = Object.freeze({
    allowed: true,
    applied: Object.freeze([]),
    headers: Object.freeze([]) as unknown as [string, string][],
    holdsLeases: false,
    release: NO_RELEASE,
  });

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

  function matching(request: RequestInfo): Matched[] {
    // Frameworks answer HEAD with the GET handler: a HEAD request is limited as the GET it stands for.
    const given = request.method.toUpperCase();
    const method = given === 'HEAD' ? 'GET' : given;
    const requestClass = classOf(method);
    const found: Matched[] = [];
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
      if (policy.except !== undefined) {
        segments ??= segmentsOf(request.path);
        let excluded = false;
        for (const pattern of policy.except) excluded ||= pattern.matchSegments(segments) !== undefined;
        if (excluded) continue;
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

  /**
   * One decision, written once for every store: it yields the store calls it needs (`Step`) and returns the
   * verdict; `runSync` answers the steps on a synchronous store, `runAsync` on any store.
   */
  function* decisionSteps(found: Matched[]): Generator<Step, Verdict, unknown> {
    const nowMs = clock();
    // Without concurrency policies no lease is ever taken: one shared empty list.
    const leases: Lease[] = withConcurrency ? [] : NO_LEASES;
    let leaseOf: Map<Policy, AcquireResult> | undefined;
    let concurrencyDenied: { policy: Policy; result: AcquireResult } | undefined;
    let ttls: number[] | undefined; // each lease's policy ttl, for renewals

    if (withConcurrency) {
      leaseOf = new Map();
      ttls = [];
      for (const { policy, key } of found) {
        if (policy.concurrency === undefined || concurrencyDenied !== undefined) continue;
        let result: AcquireResult;
        try {
          result = (yield {
            op: 'acquire',
            key: `policy:${policy.name.replaceAll('%', '%25').replaceAll('|', '%7C')}|${key}`,
            max: policy.concurrency.max,
            ttlMs: policy.concurrency.ttlMs,
          }) as AcquireResult;
        } catch (error) {
          // No verdict, so nobody could release the slots taken so far: give them back now.
          if (leases.length > 0) yield { op: 'release', leases };
          throw error;
        }
        leaseOf.set(policy, result);
        if (result.acquired) {
          leases.push(result.lease);
          ttls.push(policy.concurrency.ttlMs);
        } else if (policy.mode === 'enforce') concurrencyDenied = { policy, result };
      }
      if (concurrencyDenied !== undefined && leases.length > 0) yield { op: 'release', leases };
    }

    const consume = consumeStep(found, concurrencyDenied !== undefined, ownStore ? nowMs : undefined);
    let consumed: Consumed | undefined;
    if (consume !== undefined) {
      try {
        consumed = (yield consume) as Consumed;
      } catch (error) {
        if (leases.length > 0) yield { op: 'release', leases };
        throw error;
      }
      if (consumed.enforced?.allowed === false && leases.length > 0) yield { op: 'release', leases };
    }
    // Turned away for concurrency: its response still tells the rate budgets, read without spending them.
    let peeked: Outcome | undefined;
    if (concurrencyDenied !== undefined) {
      const all = consumeStep(found, false, ownStore ? nowMs : undefined) as
        | { enforced?: readonly Check[] }
        | undefined;
      if (all?.enforced !== undefined && all.enforced.length > 0) {
        // Cost 0: the budget as it stands, not as it would be after this request.
        const checks = all.enforced.map((check) => ({ ...check, cost: 0 }));
        peeked = (yield { op: 'peek', checks, nowMs: ownStore ? nowMs : undefined }) as Outcome | undefined;
      }
    }

    const holdsLeases = leases.length > 0;
    let release = NO_RELEASE;
    if (holdsLeases) {
      const renewal = keepAlive(leases, ttls!);
      release = () => {
        clearInterval(renewal);
        return leases.length === 0
          ? Promise.resolve()
          : stepAsync(store, { op: 'release', leases }).then(() => {});
      };
    }
    return verdictOf(
      {
        nowMs,
        found,
        enforced: consumed?.enforced,
        shadowed: consumed?.shadowed,
        peeked,
        leases: leaseOf,
        concurrencyDenied,
        holdsLeases,
        release,
      },
      headerOptions,
      reject,
    );
  }

  /** The verdict of a request no concurrency policy applies to. */
  const rateOnly = (nowMs: number, found: readonly Matched[], consumed: Consumed | undefined) =>
    verdictOf(
      {
        nowMs,
        found,
        enforced: consumed?.enforced,
        shadowed: consumed?.shadowed,
        leases: undefined,
        concurrencyDenied: undefined,
        holdsLeases: false,
        release: NO_RELEASE,
      },
      headerOptions,
      reject,
    );

  const check = (request: RequestInfo): Verdict | Promise<Verdict> => {
    const found = matching(request);
    if (found.length === 0) return unlimited;
    if (!withConcurrency) {
      // The common case, without the steps: one consume (synchronous on the memory store).
      const nowMs = clock();
      const consume = consumeStep(found, false, ownStore ? nowMs : undefined);
      if (consume === undefined) return rateOnly(nowMs, found, undefined);
      if (sync !== undefined) return rateOnly(nowMs, found, stepSync(sync, consume) as Consumed);
      return stepAsync(store, consume).then((consumed) => rateOnly(nowMs, found, consumed as Consumed));
    }
    const steps = decisionSteps(found);
    return sync === undefined ? runAsync(steps, store) : runSync(steps, sync);
  };
  return {
    check,
    async decide(request) {
      return check(request);
    },
  };
}
