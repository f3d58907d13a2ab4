import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { fail, integerAtLeast, knownKeys, optionsObject } from '../internal/describe.js';
import type { Client } from './client.js';

/**
 * Options of {@link clientMetrics}.
 *
 * @example
 * ```ts
 * const options: ClientMetricsOptions = { prefix: 'erp_', labels: { integration: 'erp-sync' }, maxEndpoints: 50 };
 * ```
 */
export interface ClientMetricsOptions {
  /**
   * The registry the metrics are registered in. A private one by default, so that two clients in one
   * process (or a test) never collide on prom-client's global registry; give a shared one together with
   * distinct `labels` (or a distinct `prefix`) to expose several clients.
   * @default new Registry()
   * @example register // prom-client's global registry
   */
  readonly registry?: Registry;
  /**
   * Prefix of every metric name.
   * @default 'sluice_client_'
   * @example 'erp_client_'
   */
  readonly prefix?: string;
  /**
   * Constant labels added to every series, e.g. to tell integrations or tenants apart. Names match
   * `[a-zA-Z_][a-zA-Z0-9_]*`, do not start with `__` and are none of the metrics' own labels (`class`,
   * `endpoint`, `outcome`, `reason`, `status`, `le`); values are strings.
   * @default {}
   * @example { integration: 'erp-sync', tenant: 'acme' }
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Distinct `endpoint` label values kept; endpoints seen after that many are counted as
   * `endpoint="other"`, so that the series count stays bounded (at most `maxEndpoints + 1` values).
   * @default 100
   * @example 20
   */
  readonly maxEndpoints?: number;
  /**
   * Buckets of `<prefix>queue_wait_seconds` and `<prefix>request_duration_seconds`, in seconds, strictly
   * increasing.
   * @default 5 ms to 2 min: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
   * @example [0.01, 0.1, 1, 10]
   */
  readonly buckets?: readonly number[];
}

/**
 * The metrics of a client, made by {@link clientMetrics}.
 *
 * @example
 * ```ts
 * const metrics: ClientMetrics = clientMetrics(client);
 * res.setHeader('content-type', metrics.registry.contentType).end(await metrics.registry.metrics());
 * ```
 */
export interface ClientMetrics {
  /** The registry holding the metrics (its `contentType` is the one to serve them with). */
  readonly registry: Registry;
  /** Stops listening to the client: the metrics keep their values but no longer change. Idempotent. */
  close(): void;
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const OWN_LABELS: readonly string[] = ['class', 'endpoint', 'outcome', 'reason', 'status', 'le'];
const KNOWN = ['registry', 'prefix', 'labels', 'maxEndpoints', 'buckets'] as const;

function bucketsOf(value: unknown): number[] {
  if (value === undefined) return [...BUCKETS];
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(
      (b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > value[i - 1]),
    );
  if (!ok) fail('buckets', 'a non-empty, strictly increasing array of positive numbers of seconds', value);
  return [...(value as number[])];
}

function labelsOf(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('labels', 'an object of label names to string values', value);
  for (const [name, label] of Object.entries(value)) {
    if (!LABEL.test(name) || name.startsWith('__'))
      fail('labels', 'keyed by label names matching [a-zA-Z_][a-zA-Z0-9_]* (not starting with `__`)', name);
    if (OWN_LABELS.includes(name))
      fail('labels', `keyed by names other than ${OWN_LABELS.map((l) => `\`${l}\``).join(', ')}`, name);
    if (typeof label !== 'string') fail(`labels.${name}`, 'a string', label);
  }
  return { ...(value as Record<string, string>) };
}

/** Whether a status is an HTTP status code (an integer from 100 to 599), so that it may label a series. */
const validStatus = (status: number): boolean => Number.isInteger(status) && status >= 100 && status <= 599;

/** How a request ended: `429` and `409` exactly, else the status class (`2xx`), or `error` with no response. */
const outcomeOf = (status: number | undefined): string => {
  if (status === undefined) return 'error';
  if (status === 429 || status === 409) return String(status);
  return validStatus(status) ? `${Math.floor(status / 100)}xx` : 'other';
};

/** Label children resolved once per label set: prom-client hashes a label object on every call otherwise. */
function cached<C>(labels: (...values: string[]) => C, constant: readonly string[]) {
  const children = new Map<string, C>();
  return (...values: string[]): C => {
    const key = values.join('\u0000');
    let child = children.get(key);
    if (child === undefined) {
      child = labels(...constant, ...values);
      children.set(key, child);
    }
    return child;
  };
}

/**
 * Records a client's events as Prometheus metrics (prom-client), in a private registry unless one is given.
 * Names below use the default prefix `sluice_client_`; every series also carries the constant `labels`.
 *
 * Counters:
 * - `requests_total{class, endpoint, outcome}` (on `done`): outcome `2xx`, `3xx`, `4xx`, `5xx`, `409` and
 *   `429` kept exact, `error` when no response came (network error, shed, aborted), `other` for a status
 *   outside 100–599;
 * - `attempts_total{class, endpoint}` (on `started`): attempts sent, retries included;
 * - `retries_total{class, reason}`, `throttles_total{class, status}`, `shed_total{class, reason}`,
 *   `persistent_throttling_total{class}`, `gate_closed_total{class, reason}`.
 *
 * Histograms: `queue_wait_seconds{class}` (per attempt, from `started`) and
 * `request_duration_seconds{class, endpoint}` (per request, queueing and retries included, from `done`).
 *
 * Gauges:
 * - `in_flight{class}`: attempts sent and not yet ended. Counted from events, not sampled: +1 per `started`,
 *   −1 per `retry` (its attempt has ended), −1 per `done`, and +1 per `shed` other than `retry-budget`
 *   (that request's pending attempt was never sent, so its `done` ends no attempt). This is exact when the
 *   metrics listen from before the client's first request, given the events' contract: one `done` per
 *   request (shed ones too), one `retry` per attempt retried, and `shed` only for an attempt not sent (a
 *   `retry-budget` shed replaces the `retry` of a sent attempt). It may lag by one between an attempt's end
 *   and its event. Attached to a busy client, it is off by the attempts already running.
 * - `concurrency_limit{class}`: the cap from the last `concurrency` event;
 * - `rate_limit_per_second{class}`: the pacing rate from the last `rate` event, in requests per second;
 *   `0` means unlimited (the event's `to` is absent: the client no longer paces the class).
 *   Both have no series until the client first changes them.
 *
 * Endpoints past `maxEndpoints` are counted as `endpoint="other"`.
 *
 * @example
 * ```ts
 * const client = createClient({ baseUrl: 'https://erp.example.com/api/' });
 * const metrics = clientMetrics(client, { labels: { integration: 'erp-sync', tenant: 'acme' } });
 * await client.fetch('orders');
 * await metrics.registry.metrics(); // 'sluice_client_requests_total{integration="erp-sync",…} 1'
 * metrics.close();
 * ```
 */
export function clientMetrics(
  client: { on: Client['on'] },
  options: ClientMetricsOptions = {},
): ClientMetrics {
  if (typeof client !== 'object' || client === null || typeof client.on !== 'function')
    fail('client', 'a client with an `on(event, listener)` method', client);
  const o = optionsObject('clientMetrics options', options);
  knownKeys('clientMetrics()', o, KNOWN);
  if (o.registry !== undefined && !(o.registry instanceof Registry))
    fail('registry', "a prom-client Registry (the installed package's)", o.registry);
  const prefix = o.prefix ?? 'sluice_client_';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix))
    fail('prefix', 'a metric name prefix matching [a-zA-Z_:][a-zA-Z0-9_:]*', o.prefix);
  const constant = labelsOf(o.labels);
  const maxEndpoints = integerAtLeast('maxEndpoints', o.maxEndpoints ?? 100, 0);
  const buckets = bucketsOf(o.buckets);
  const registry = (o.registry as Registry | undefined) ?? new Registry();
  const registers = [registry];
  const names = Object.keys(constant);
  const values = Object.values(constant);

  const counter = (name: string, help: string, own: readonly string[]) => {
    const metric = new Counter({ name: prefix + name, help, labelNames: [...names, ...own], registers });
    return cached((...v) => metric.labels(...v), values);
  };
  const gauge = (name: string, help: string) => {
    const metric = new Gauge({ name: prefix + name, help, labelNames: [...names, 'class'], registers });
    return cached((...v) => metric.labels(...v), values);
  };
  const histogram = (name: string, help: string, own: readonly string[]) => {
    const labelNames = [...names, ...own];
    const metric = new Histogram({ name: prefix + name, help, labelNames, buckets, registers });
    return cached((...v) => metric.labels(...v), values);
  };

  const requests = counter('requests_total', 'Requests finished, by outcome.', [
    'class',
    'endpoint',
    'outcome',
  ]);
  const attempts = counter('attempts_total', 'Attempts sent, retries included.', ['class', 'endpoint']);
  const retries = counter('retries_total', 'Attempts retried, by reason.', ['class', 'reason']);
  const throttles = counter('throttles_total', '429 and 409 responses.', ['class', 'status']);
  const shed = counter('shed_total', 'Requests that left without being sent, by reason.', [
    'class',
    'reason',
  ]);
  const persistent = counter(
    'persistent_throttling_total',
    'Windows in which the class was throttled persistently.',
    ['class'],
  );
  const gateClosed = counter('gate_closed_total', 'Gate closings of the class, by reason.', [
    'class',
    'reason',
  ]);
  const queueWait = histogram('queue_wait_seconds', 'Time an attempt waited in its queue.', ['class']);
  const duration = histogram(
    'request_duration_seconds',
    'Time from the call to the end of a request, queueing and retries included.',
    ['class', 'endpoint'],
  );
  const inFlight = gauge('in_flight', 'Attempts sent and not yet ended.');
  const concurrency = gauge('concurrency_limit', 'Concurrency cap of the class, as last changed.');
  const rate = gauge(
    'rate_limit_per_second',
    'Pacing rate of the class in requests per second; 0: unlimited.',
  );

  const endpoints = new Set<string>();
  const endpointLabel = (endpoint: string): string => {
    if (endpoints.has(endpoint)) return endpoint;
    if (endpoints.size >= maxEndpoints) return 'other';
    endpoints.add(endpoint);
    return endpoint;
  };
  const seconds = (ms: number): number | undefined =>
    typeof ms === 'number' && ms >= 0 && ms < Number.POSITIVE_INFINITY ? ms / 1000 : undefined;

  const subscriptions = [
    client.on('started', (e) => {
      attempts(e.class, endpointLabel(e.endpoint)).inc();
      inFlight(e.class).inc();
      const waited = seconds(e.queueWaitMs);
      if (waited !== undefined) queueWait(e.class).observe(waited);
    }),
    client.on('retry', (e) => {
      retries(e.class, e.reason).inc();
      inFlight(e.class).dec();
    }),
    client.on('done', (e) => {
      const endpoint = endpointLabel(e.endpoint);
      requests(e.class, endpoint, outcomeOf(e.status)).inc();
      inFlight(e.class).dec();
      const took = seconds(e.durationMs);
      if (took !== undefined) duration(e.class, endpoint).observe(took);
    }),
    client.on('shed', (e) => {
      shed(e.class, e.reason).inc();
      if (e.reason !== 'retry-budget') inFlight(e.class).inc();
    }),
    client.on('throttled', (e) => {
      throttles(e.class, validStatus(e.status) ? String(e.status) : 'other').inc();
    }),
    client.on('persistentThrottling', (e) => persistent(e.class).inc()),
    client.on('gateClosed', (e) => gateClosed(e.class, e.reason).inc()),
    client.on('concurrency', (e) => concurrency(e.class).set(e.to)),
    client.on('rate', (e) => rate(e.class).set(e.to ?? 0)),
  ];

  return {
    registry,
    close() {
      for (const stop of subscriptions.splice(0)) stop();
    },
  };
}
