import { type Clock, systemClock } from '../core/clock.js';
import type { Outcome } from '../core/decision.js';
import { type ClientIpOptions, createClientIp } from '../http/client-ip.js';
import type { HeaderOptions } from '../http/headers.js';
import { createRejection, type RejectionOptions } from '../http/rejection.js';
import { isSynchronous } from '../internal/fast-path.js';
import { createMemoryStore, type MemoryStore } from '../store/memory/memory-store.js';
import type { AcquireResult, Check, Lease, Store } from '../store/types.js';
import type { Policy, PolicySet } from './config.js';
import { createKeyOf, type RequestInfo } from './keys.js';
import { classOf, normalisedPath, segmentsOf } from './match.js';
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

/** One store call of a decision, as the decision steps ask for them (see `decisionSteps`). */
type Step =
  | { readonly op: 'acquire'; readonly key: string; readonly max: number; readonly ttlMs: number }
  | {
      readonly op: 'consume';
      readonly enforced: readonly Check[];
      readonly shadowed: readonly Check[];
      /** The decision time, for the enforcer's own store (which shares its clock); else the store's. */
      readonly nowMs: number | undefined;
    }
  | { readonly op: 'release'; readonly leases: Lease[] };
/** The answer to a `consume` step: a shadow consume that failed gives undefined, never an error. */
interface Consumed {
  readonly enforced: Outcome | undefined;
  readonly shadowed: Outcome | undefined;
}

/** The store itself when its sync twins may decide without a promise: a memory store, as made. */
const syncOf = (store: Store): MemoryStore | undefined =>
  isSynchronous(store) ? (store as MemoryStore) : undefined;

/** The `consume` step of the matched policies (none if they have no rate limits to check). */
function consumeStep(
  found: readonly Matched[],
  concurrencyDenied: boolean,
  nowMs: number | undefined,
): Step | undefined {
  const enforced: Check[] = [];
  const shadowed: Check[] = [];
  for (const { policy, key } of found) {
    const into = policy.mode === 'enforce' ? enforced : shadowed;
    // Turned away for concurrency: the enforcing policies' budgets are not touched.
    if (into === enforced && concurrencyDenied) continue;
    for (const limit of policy.limits) into.push({ limit, key, cost: policy.cost });
  }
  return enforced.length > 0 || shadowed.length > 0
    ? { op: 'consume', enforced, shadowed, nowMs }
    : undefined;
}

/** Runs a step on a synchronous store. */
function stepSync(store: MemoryStore, step: Step): unknown {
  switch (step.op) {
    case 'acquire':
      return store.acquireSync(step.key, step.max, step.ttlMs);
    case 'consume': {
      let shadowed: Outcome | undefined;
      if (step.shadowed.length > 0)
        try {
          shadowed = store.consumeSync(step.shadowed, step.nowMs);
        } catch {}
      const enforced = step.enforced.length > 0 ? store.consumeSync(step.enforced, step.nowMs) : undefined;
      return { enforced, shadowed } satisfies Consumed;
    }
    case 'release':
      for (const lease of step.leases.splice(0))
        try {
          store.releaseSync(lease);
        } catch {}
      return undefined;
  }
}

/** Runs a step on any store. */
async function stepAsync(store: Store, step: Step): Promise<unknown> {
  switch (step.op) {
    case 'acquire':
      return store.acquire(step.key, step.max, step.ttlMs);
    case 'consume': {
      // A shadow policy never affects the response, its store failing included.
      if (step.shadowed.length === 0)
        return { enforced: await store.consume(step.enforced, step.nowMs), shadowed: undefined };
      if (step.enforced.length === 0) {
        const shadowed = await store.consume(step.shadowed, step.nowMs).catch(() => undefined);
        return { enforced: undefined, shadowed } satisfies Consumed;
      }
      const [enforced, shadowed] = await Promise.allSettled([
        step.enforced.length > 0 ? store.consume(step.enforced, step.nowMs) : undefined,
        step.shadowed.length > 0 ? store.consume(step.shadowed, step.nowMs) : undefined,
      ]);
      if (enforced.status === 'rejected') throw enforced.reason;
      return {
        enforced: enforced.value,
        shadowed: shadowed.status === 'fulfilled' ? shadowed.value : undefined,
      } satisfies Consumed;
    }
    case 'release':
      await Promise.all(step.leases.splice(0).map((lease) => store.release(lease).catch(() => false)));
      return undefined;
  }
}

/** Drives decision steps on a synchronous store: the verdict without a promise. */
function runSync(steps: Generator<Step, Verdict, unknown>, store: MemoryStore): Verdict {
  let next = steps.next();
  while (next.done !== true) {
    let answer: unknown;
    try {
      answer = stepSync(store, next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}

/** Drives decision steps on any store. */
async function runAsync(steps: Generator<Step, Verdict, unknown>, store: Store): Promise<Verdict> {
  let next = steps.next();
  while (next.done !== true) {
    let answer: unknown;
    try {
      answer = await stepAsync(store, next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}

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
