import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DegradedReason } from '../core/decision.js';
import type { RejectionCause } from '../http/rejection.js';
import { fail, integerAtLeast, knownKeys, optionsObject } from '../internal/describe.js';
import type { AppliedPolicy, Verdict } from '../policy/verdict.js';

/**
 * Options of {@link createGatewayMetrics}.
 *
 * @example
 * ```ts
 * const options: GatewayMetricsOptions = { prefix: 'edge_', collectDefault: true };
 * ```
 */
export interface GatewayMetricsOptions {
  /**
   * The registry the metrics are registered in. A private one by default, so that two gateways in one
   * process (or a test) never collide on prom-client's global registry.
   * @default new Registry()
   * @example register // prom-client's global registry
   */
  readonly registry?: Registry;
  /**
   * Prefix of every metric name (and of the default process metrics).
   * @default 'sluice_'
   * @example 'edge_'
   */
  readonly prefix?: string;
  /**
   * Buckets of `<prefix>decision_duration_seconds`, in seconds, strictly increasing.
   * @default 10 µs to 100 ms: [0.00001, 0.000025, 0.00005, 0.0001, …, 0.05, 0.1]
   * @example [0.0001, 0.001, 0.01]
   */
  readonly buckets?: readonly number[];
  /**
   * Buckets of `<prefix>upstream_duration_seconds`, in seconds, strictly increasing.
   * @default 5 ms to 10 s: [0.005, 0.01, 0.025, …, 5, 10]
   * @example [0.05, 0.5, 5]
   */
  readonly upstreamBuckets?: readonly number[];
  /**
   * Also collect prom-client's default process metrics (CPU, memory, event loop lag, …) in the registry.
   * @default false
   */
  readonly collectDefault?: boolean;
  /**
   * Distinct `policy` label values kept; policies seen after that many are counted as `policy="other"`, so
   * that a configuration with many policies cannot blow up the series count.
   * @default 200
   * @example 50
   */
  readonly maxPolicies?: number;
}

/**
 * What one applied policy made of a request: `allowed`, `rejected` (an enforcing policy denied) or
 * `would_reject` (a shadow policy would have denied).
 *
 * @example
 * ```ts
 * const outcome: PolicyOutcome = applied.mode === 'shadow' ? 'would_reject' : 'rejected';
 * ```
 */
export type PolicyOutcome = 'allowed' | 'rejected' | 'would_reject';

/**
 * The outcome of one applied policy, from its own decisions and lease; `undefined` when the policy was not
 * decided at all (its checks were skipped because another policy turned the request away first).
 *
 * @example
 * ```ts
 * for (const applied of verdict.applied) console.log(applied.policy.name, policyOutcome(applied));
 * ```
 */
export function policyOutcome(applied: AppliedPolicy): PolicyOutcome | undefined {
  const { decisions, lease, mode } = applied;
  if (decisions.length === 0 && lease === undefined) return undefined;
  const denied = lease?.acquired === false || decisions.some((d) => !d.allowed);
  if (!denied) return 'allowed';
  return mode === 'shadow' ? 'would_reject' : 'rejected';
}

/**
 * The metrics of a gateway, made by {@link createGatewayMetrics}. Every label has a bounded set of values
 * (policy names, modes, outcomes, causes, status codes and classes): never a key, a path or an address.
 *
 * @example
 * ```ts
 * const started = performance.now();
 * const verdict = await enforcer.decide(request);
 * metrics.observeDecision(verdict, (performance.now() - started) / 1000);
 * const done = metrics.requestStarted(verdict);
 * res.on('close', () => { done(); void verdict.release(); });
 * ```
 */
export interface GatewayMetrics {
  /** The registry holding the metrics (its `contentType` is the one to serve them with). */
  readonly registry: Registry;
  /**
   * Counts one enforcer verdict: per applied policy (`decisions_total`, `shadow_would_reject_total`,
   * `near_limit_total`), its rejection (`rejections_total`), its degraded decisions, and the time it took.
   * The verdict carries the degraded reason of its concurrency leases only: pass the `reason` of the store's
   * outcome as `degradedReason` when the gateway knows it.
   */
  observeDecision(verdict: Verdict, seconds: number, degradedReason?: DegradedReason): void;
  /**
   * Counts the request's leases in flight (`in_flight{policy}`); the returned `done` takes them off again,
   * once, however often it is called. Call it when the response finishes or the client goes away.
   */
  requestStarted(verdict: Verdict): () => void;
  /** Counts one upstream answer: its HTTP status (or `'error'` when none came) and how long it took. */
  observeUpstream(status: number | 'error', seconds: number): void;
  /** Counts one failed store call, e.g. from `createResilientStore`'s `onError`. */
  observeStoreError(reason: Exclude<DegradedReason, 'fallback'>): void;
  /** Counts a request turned away for a cause the enforcer does not decide (`shed`, `unauthorized`). */
  observeRejection(cause: RejectionCause | 'unauthorized', status: number): void;
  /** Counts a request turned away before enforcement for want of valid credentials. @default status 401 */
  observeUnauthorized(status?: number): void;
  /** The registry's content in the Prometheus text format. */
  text(): Promise<string>;
}

const DECISION_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
];
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;
const NEAR_LIMIT = 0.2;
const DEGRADED: readonly string[] = ['store-timeout', 'store-error', 'fallback'];
const CAUSES: readonly string[] = ['rate', 'concurrency', 'shed', 'unauthorized'];
const NOTHING = () => {};

function bucketsOf(path: string, value: unknown, fallback: readonly number[]): number[] {
  if (value === undefined) return [...fallback];
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(
      (b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > value[i - 1]),
    );
  if (!ok) fail(path, 'a non-empty, strictly increasing array of positive numbers of seconds', value);
  return [...(value as number[])];
}

/** A status code as a label value: `429`; `other` for anything but an integer from 100 to 599. */
const statusLabel = (status: number): string =>
  Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'other';

const validSeconds = (seconds: number) => typeof seconds === 'number' && seconds >= 0 && seconds < Infinity;

/** Whether an allowed policy left some limit with under 20 % of its capacity. */
const nearLimit = (applied: AppliedPolicy): boolean =>
  applied.decisions.some((d) => d.limit > 0 && d.remaining < d.limit * NEAR_LIMIT);

/** Why an enforcer rejected: a denied rate limit of an enforcing policy, or else its concurrency limit. */
const causeOf = (verdict: Verdict): RejectionCause =>
  verdict.applied.some((a) => a.mode === 'enforce' && a.decisions.some((d) => !d.allowed))
    ? 'rate'
    : 'concurrency';

/**
 * Creates the Prometheus metrics of a gateway (prom-client), in a private registry unless one is given:
 *
 * - `sluice_decisions_total{policy, mode, outcome}`: per applied policy, `allowed`, `rejected` or (shadow)
 *   `would_reject`;
 * - `sluice_shadow_would_reject_total{policy}`;
 * - `sluice_near_limit_total{policy}`: allowed requests that left a limit of the policy under 20 % of its
 *   capacity;
 * - `sluice_rejections_total{cause, status}`: cause `rate`, `concurrency`, `shed` or `unauthorized`;
 * - `sluice_store_errors_total{reason}`, `sluice_degraded_decisions_total{reason}`;
 * - `sluice_in_flight{policy}`: requests holding a concurrency lease of the policy;
 * - `sluice_decision_duration_seconds` (histogram, 10 µs to 100 ms);
 * - `sluice_upstream_responses_total{status_class}` (`1xx` … `5xx`, `error`) and
 *   `sluice_upstream_duration_seconds` (histogram).
 *
 * @example
 * ```ts
 * const metrics = createGatewayMetrics({ collectDefault: true });
 * const store = createResilientStore(redisStore, {
 *   onError: (_error, reason) => metrics.observeStoreError(reason),
 * });
 * metrics.observeUpstream(502, 0.012);
 * await metrics.text(); // '# HELP sluice_decisions_total …'
 * ```
 */
export function createGatewayMetrics(options: GatewayMetricsOptions = {}): GatewayMetrics {
  const o = optionsObject('createGatewayMetrics options', options);
  knownKeys('createGatewayMetrics()', o, [
    'registry',
    'prefix',
    'buckets',
    'upstreamBuckets',
    'collectDefault',
    'maxPolicies',
  ]);
  if (o.registry !== undefined && !(o.registry instanceof Registry))
    fail('registry', "a prom-client Registry (the installed package's)", o.registry);
  const prefix = o.prefix ?? 'sluice_';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix))
    fail('prefix', 'a metric name prefix matching [a-zA-Z_:][a-zA-Z0-9_:]*', o.prefix);
  const buckets = bucketsOf('buckets', o.buckets, DECISION_BUCKETS);
  const upstreamBuckets = bucketsOf('upstreamBuckets', o.upstreamBuckets, UPSTREAM_BUCKETS);
  if (o.collectDefault !== undefined && typeof o.collectDefault !== 'boolean')
    fail('collectDefault', 'a boolean', o.collectDefault);
  const maxPolicies = integerAtLeast('maxPolicies', o.maxPolicies ?? 200, 1);
  const registry = (o.registry as Registry | undefined) ?? new Registry();
  const registers = [registry];

  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name: prefix + name, help, labelNames, registers });
  const decisions = counter('decisions_total', 'Decisions per applied policy, by mode and outcome.', [
    'policy',
    'mode',
    'outcome',
  ]);
  const wouldReject = counter('shadow_would_reject_total', 'Requests a shadow policy would have rejected.', [
    'policy',
  ]);
  const nearLimitTotal = counter(
    'near_limit_total',
    'Allowed requests that left a limit of the policy under 20% of its capacity.',
    ['policy'],
  );
  const rejections = counter('rejections_total', 'Requests turned away, by cause and status.', [
    'cause',
    'status',
  ]);
  const storeErrors = counter('store_errors_total', 'Failed store calls, by reason.', ['reason']);
  const degraded = counter('degraded_decisions_total', 'Requests decided in degraded mode, by reason.', [
    'reason',
  ]);
  const upstreamResponses = counter('upstream_responses_total', 'Upstream answers, by status class.', [
    'status_class',
  ]);
  const inFlight = new Gauge<'policy'>({
    name: `${prefix}in_flight`,
    help: 'Requests in flight holding a concurrency lease of the policy.',
    labelNames: ['policy'],
    registers,
  });
  const decisionSeconds = new Histogram({
    name: `${prefix}decision_duration_seconds`,
    help: 'Time taken by the enforcer to decide a request.',
    buckets,
    registers,
  });
  const upstreamSeconds = new Histogram({
    name: `${prefix}upstream_duration_seconds`,
    help: 'Time until the upstream answered (or failed).',
    buckets: upstreamBuckets,
    registers,
  });
  if (o.collectDefault === true) collectDefaultMetrics({ register: registry, prefix });

  const policies = new Set<string>();
  const policyLabel = (name: string): string => {
    if (policies.has(name)) return name;
    if (policies.size >= maxPolicies) return 'other';
    policies.add(name);
    return name;
  };

  // Label children resolved once per label set: prom-client hashes a label object on every call otherwise.
  // Bounded by the policy label's own bound (policies × modes × outcomes).
  const decisionChildren = new Map<string, { inc(): void }>();
  const wouldRejectChildren = new Map<string, { inc(): void }>();
  const nearLimitChildren = new Map<string, { inc(): void }>();
  const child = (cache: Map<string, { inc(): void }>, key: string, make: () => { inc(): void }) => {
    let found = cache.get(key);
    if (found === undefined) {
      found = make();
      cache.set(key, found);
    }
    return found;
  };

  const observeRejection = (cause: RejectionCause | 'unauthorized', status: number) => {
    rejections.inc({ cause: CAUSES.includes(cause) ? cause : 'other', status: statusLabel(status) });
  };

  return {
    registry,
    observeDecision(verdict, seconds, degradedReason) {
      if (validSeconds(seconds)) decisionSeconds.observe(seconds);
      let reasons: Set<string> | undefined;
      if (degradedReason !== undefined) reasons = new Set([degradedReason]);
      for (const applied of verdict.applied) {
        if (applied.lease?.reason !== undefined) {
          reasons ??= new Set();
          reasons.add(applied.lease.reason);
        }
        const outcome = policyOutcome(applied);
        if (outcome === undefined) continue;
        const policy = policyLabel(applied.policy.name);
        child(decisionChildren, `${policy}\u0000${applied.mode}\u0000${outcome}`, () =>
          decisions.labels({ policy, mode: applied.mode, outcome }),
        ).inc();
        if (outcome === 'would_reject')
          child(wouldRejectChildren, policy, () => wouldReject.labels({ policy })).inc();
        else if (outcome === 'allowed' && nearLimit(applied))
          child(nearLimitChildren, policy, () => nearLimitTotal.labels({ policy })).inc();
      }
      for (const reason of reasons ?? [])
        degraded.inc({ reason: DEGRADED.includes(reason) ? reason : 'other' });
      if (verdict.rejection !== undefined) observeRejection(causeOf(verdict), verdict.rejection.status);
    },
    requestStarted(verdict) {
      if (!verdict.holdsLeases) return NOTHING;
      const held: string[] = [];
      for (const { lease, policy } of verdict.applied)
        if (lease?.acquired === true) held.push(policyLabel(policy.name));
      for (const policy of held) inFlight.inc({ policy });
      let done = false;
      return () => {
        if (done) return;
        done = true;
        for (const policy of held) inFlight.dec({ policy });
      };
    },
    observeUpstream(status, seconds) {
      const statusClass =
        status !== 'error' && Number.isInteger(status) && status >= 100 && status <= 599
          ? `${Math.floor(status / 100)}xx`
          : 'error';
      upstreamResponses.inc({ status_class: statusClass });
      if (validSeconds(seconds)) upstreamSeconds.observe(seconds);
    },
    observeStoreError(reason) {
      storeErrors.inc({ reason: DEGRADED.includes(reason) ? reason : 'other' });
    },
    observeRejection,
    observeUnauthorized(status = 401) {
      observeRejection('unauthorized', status);
    },
    text: () => registry.metrics(),
  };
}
