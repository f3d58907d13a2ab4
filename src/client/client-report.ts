import { Gauge, Registry } from 'prom-client';
import { fail, knownKeys, optionsObject } from '../internal/describe.js';
import type { ClientClassStats } from './client-class.js';
import { STATS_WINDOWS } from './client-stats.js';

/**
 * The monitoring report of an integration: what its clients and jobs did, as integration owners watch it
 * (request volume per time window, errors by status, retries, throttles, average and peak concurrency,
 * long-running jobs), as JSON, as Prometheus metrics and as a human summary.
 */

/**
 * A job as the report reads it: `runJob`'s summary (or its progress while it runs) fits.
 *
 * @example
 * ```ts
 * const job: JobStatus = { name: 'nightly-sync', state: 'running', processed: 1200, failed: 3, durationMs: 5_400_000 };
 * ```
 */
export interface JobStatus {
  readonly name: string;
  /** `running`, `completed`, `failed`, `aborted` … */
  readonly state: string;
  readonly processed: number;
  /** Items dead-lettered. */
  readonly failed: number;
  readonly skipped?: number;
  readonly retries?: number;
  readonly durationMs: number;
}

/**
 * Options of {@link monitoringReport}.
 *
 * @example
 * ```ts
 * const options: MonitoringReportOptions = { integration: 'erp-sync', tenant: 'acme', clients: { orders: client } };
 * ```
 */
export interface MonitoringReportOptions {
  /** The integration's name (a label of every metric). */
  integration: string;
  /** The tenant or account it runs for (a label of every metric). @default '' */
  tenant?: string;
  /** The clients, by name: anything with `stats()` as `createClient` makes it. */
  clients?: Readonly<Record<string, { stats(): Record<string, ClientClassStats> }>>;
  /** Jobs (`runJob` summaries, or progress of running ones). */
  jobs?: readonly JobStatus[];
  /** A running job older than this is flagged `longRunning`. @default 3_600_000 (1 h) */
  longRunningMs?: number;
  /** The report's time. @default Date.now() */
  nowMs?: number;
}

/**
 * One request class of one client in the report.
 *
 * @example
 * ```ts
 * const busiest: ClassReport | undefined = report.classes.toSorted((a, b) => b.requests - a.requests)[0];
 * ```
 */
export interface ClassReport {
  readonly client: string;
  readonly class: string;
  readonly requests: number;
  /**
   * Requests per time window (the client's `statsWindow`): the last 10 up to the report's time, oldest
   * first, windows without traffic as 0.
   */
  readonly perWindow: ReadonlyArray<{ readonly startMs: number; readonly requests: number }>;
  readonly responses: Readonly<Record<number, number>>;
  /**
   * Share of attempts that failed, by status group (`4xx`, `5xx`, with `429` and `409` kept exact) and
   * `network` (no response), from 0 to 1, since the client started.
   */
  readonly errorRate: Readonly<Record<string, number>>;
  /** The same, over the current time window only (what is happening now). */
  readonly errorRateWindow: Readonly<Record<string, number>>;
  readonly retries: number;
  readonly throttles: number;
  readonly errors: number;
  readonly averageConcurrency: number;
  readonly peakConcurrency: number;
  readonly averageQueueWaitMs: number;
  readonly endpoints: number;
}

/**
 * A monitoring report, made by {@link monitoringReport}.
 *
 * @example
 * ```ts
 * const report: MonitoringReport = monitoringReport({ integration: 'erp-sync', clients: { api: client } });
 * console.log(JSON.stringify(report));
 * ```
 */
export interface MonitoringReport {
  readonly integration: string;
  readonly tenant: string;
  readonly generatedAt: string;
  readonly classes: readonly ClassReport[];
  readonly jobs: ReadonlyArray<JobStatus & { readonly longRunning: boolean }>;
  readonly totals: {
    readonly requests: number;
    readonly retries: number;
    readonly throttles: number;
    readonly errors: number;
    readonly errorRate: number;
  };
}

const statusGroup = (status: number) =>
  status === 429 || status === 409 ? String(status) : `${Math.floor(status / 100)}xx`;

/** Failed attempts by group, as shares of the attempts that ended (answered or failed on the network). */
function ratesOf(responses: Readonly<Record<number, number>>, networkErrors: number): Record<string, number> {
  const ended = Object.values(responses).reduce((a, b) => a + b, 0) + networkErrors;
  const rates: Record<string, number> = {};
  if (ended === 0) return rates;
  for (const [status, n] of Object.entries(responses)) {
    if (Number(status) < 400) continue;
    const group = statusGroup(Number(status));
    rates[group] = (rates[group] ?? 0) + n / ended;
  }
  if (networkErrors > 0) rates.network = networkErrors / ended;
  return rates;
}

/**
 * The last `STATS_WINDOWS` windows up to the one holding `nowMs`, oldest first, with the windows that saw no
 * traffic filled in as zeros (the client lists only windows with traffic).
 */
function windowsUpTo(s: ClientClassStats, nowMs: number) {
  const currentStart = Math.floor(nowMs / s.windowMs) * s.windowMs;
  const byStart = new Map(s.windows.map((w) => [w.startMs, w]));
  const out = [];
  for (let i = STATS_WINDOWS - 1; i >= 0; i--) {
    const startMs = currentStart - i * s.windowMs;
    const w = byStart.get(startMs);
    out.push({ startMs, requests: w?.requests ?? 0, responses: w?.responses ?? {}, errors: w?.errors ?? 0 });
  }
  return out;
}

function classReport(client: string, name: string, s: ClientClassStats, nowMs: number): ClassReport {
  const errorRate = ratesOf(s.responses, s.errors);
  const windows = windowsUpTo(s, nowMs);
  const current = windows[windows.length - 1];
  return {
    client,
    class: name,
    requests: s.requests,
    perWindow: windows.map((w) => ({ startMs: w.startMs, requests: w.requests })),
    responses: s.responses,
    errorRate,
    errorRateWindow: current === undefined ? {} : ratesOf(current.responses, current.errors),
    retries: s.retries,
    throttles: s.throttles,
    errors: s.errors,
    averageConcurrency: s.averageRunning,
    peakConcurrency: s.peakRunning,
    averageQueueWaitMs: s.started === 0 ? 0 : s.queueWaitTotalMs / s.started,
    endpoints: Object.keys(s.endpoints).length,
  };
}

/**
 * Builds the monitoring report of an integration from its clients' `stats()` and its jobs. Pure apart
 * from reading the stats: call it on a schedule, log it, serve it.
 *
 * @example
 * ```ts
 * const report = monitoringReport({ integration: 'erp-sync', tenant: 'acme', clients: { api: client }, jobs: [summary] });
 * console.log(formatReport(report)); // the human summary
 * ```
 */
export function monitoringReport(options: MonitoringReportOptions): MonitoringReport {
  const o = optionsObject('monitoringReport options', options);
  knownKeys('monitoringReport()', o, ['integration', 'tenant', 'clients', 'jobs', 'longRunningMs', 'nowMs']);
  if (typeof options.integration !== 'string' || options.integration === '')
    fail('integration', 'a non-empty string', options.integration);
  const nowMs = options.nowMs ?? Date.now();
  const longRunningMs = options.longRunningMs ?? 3_600_000;
  const classes: ClassReport[] = [];
  for (const [client, c] of Object.entries(options.clients ?? {})) {
    if (typeof c?.stats !== 'function') fail(`clients.${client}`, 'a client (with stats())', c);
    for (const [name, s] of Object.entries(c.stats())) classes.push(classReport(client, name, s, nowMs));
  }
  const sum = (pick: (c: ClassReport) => number) => classes.reduce((a, c) => a + pick(c), 0);
  const ended = sum((c) => Object.values(c.responses).reduce((a, b) => a + b, 0) + c.errors);
  const failed = sum(
    (c) =>
      Object.entries(c.responses).reduce((a, [status, n]) => a + (Number(status) >= 400 ? n : 0), 0) +
      c.errors,
  );
  return {
    integration: options.integration,
    tenant: options.tenant ?? '',
    generatedAt: new Date(nowMs).toISOString(),
    classes,
    jobs: (options.jobs ?? []).map((job) => ({
      ...job,
      longRunning: job.state === 'running' && job.durationMs > longRunningMs,
    })),
    totals: {
      requests: sum((c) => c.requests),
      retries: sum((c) => c.retries),
      throttles: sum((c) => c.throttles),
      errors: sum((c) => c.errors),
      errorRate: ended === 0 ? 0 : failed / ended,
    },
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const inWindow = (c: ClassReport) => {
  const now = Object.values(c.errorRateWindow).reduce((a, b) => a + b, 0);
  return ` (${pct(now)} in the current window)`;
};

/**
 * The report as a short human summary, one line per class and per job.
 *
 * @example
 * ```ts
 * process.stderr.write(`${formatReport(monitoringReport({ integration: 'erp-sync', clients: { api: client } }))}\n`);
 * ```
 */
export function formatReport(report: MonitoringReport): string {
  const { totals } = report;
  const lines = [
    `${report.integration}${report.tenant === '' ? '' : ` (${report.tenant})`} at ${report.generatedAt}: ` +
      `${totals.requests} requests, ${pct(totals.errorRate)} errors, ${totals.retries} retries, ${totals.throttles} throttled`,
  ];
  for (const c of report.classes) {
    const errors = Object.entries(c.errorRate)
      .map(([group, rate]) => `${group} ${pct(rate)}`)
      .join(', ');
    const last = c.perWindow[c.perWindow.length - 1];
    lines.push(
      `  ${c.client}/${c.class}: ${c.requests} requests${last === undefined ? '' : ` (${last.requests} in the current window)`}` +
        `, errors ${errors === '' ? 'none' : errors}${inWindow(c)}, ${c.retries} retries, ${c.throttles} throttled, ` +
        `concurrency ${c.averageConcurrency.toFixed(1)} avg / ${c.peakConcurrency} peak, queue wait ${Math.round(c.averageQueueWaitMs)} ms avg`,
    );
  }
  for (const job of report.jobs) {
    lines.push(
      `  job ${job.name}: ${job.state}${job.longRunning ? ' (LONG RUNNING)' : ''}, ${job.processed} processed, ` +
        `${job.failed} failed${job.skipped === undefined ? '' : `, ${job.skipped} skipped`}, ${Math.round(job.durationMs / 1000)} s`,
    );
  }
  return lines.join('\n');
}

/**
 * Writes the report into Prometheus gauges (a new `Registry` unless one is given), labelled by
 * `integration`, `tenant`, `client` and `class` (bounded: classes are configuration, not traffic), and
 * `job` for jobs. Returns the registry; `await registry.metrics()` is the exposition text.
 *
 * @example
 * ```ts
 * const registry = reportMetrics(monitoringReport({ integration: 'erp-sync', clients: { api: client } }));
 * response.end(await registry.metrics());
 * ```
 */
export function reportMetrics(report: MonitoringReport, registry: Registry = new Registry()): Registry {
  const base = { integration: report.integration, tenant: report.tenant };
  const classLabels = ['integration', 'tenant', 'client', 'class'] as const;
  // Each call rewrites the whole picture: series of a previous report (an error rate gone back to zero, a
  // job no longer listed) are dropped first.
  const gauge = (name: string, help: string, labelNames: readonly string[]) => {
    const existing = registry.getSingleMetric(name) as Gauge<string> | undefined;
    existing?.reset();
    return existing ?? new Gauge({ name, help, labelNames: [...labelNames], registers: [registry] });
  };
  const requests = gauge('sluice_report_requests', 'Requests sent (attempts), per class', classLabels);
  const perWindow = gauge(
    'sluice_report_requests_current_window',
    'Requests in the current stats window',
    classLabels,
  );
  const errorRate = gauge(
    'sluice_report_error_rate',
    'Share of attempts failed, by status group, since start',
    [...classLabels, 'status'],
  );
  const errorRateWindow = gauge('sluice_report_error_rate_window', 'The same, in the current stats window', [
    ...classLabels,
    'status',
  ]);
  const retries = gauge('sluice_report_retries', 'Attempts retried', classLabels);
  const throttles = gauge('sluice_report_throttles', '429 and 409 responses', classLabels);
  const avg = gauge('sluice_report_concurrency_average', 'Average requests in flight', classLabels);
  const peak = gauge('sluice_report_concurrency_peak', 'Peak requests in flight', classLabels);
  for (const c of report.classes) {
    const labels = { ...base, client: c.client, class: c.class };
    requests.set(labels, c.requests);
    perWindow.set(labels, c.perWindow[c.perWindow.length - 1]?.requests ?? 0);
    for (const [status, rate] of Object.entries(c.errorRate)) errorRate.set({ ...labels, status }, rate);
    for (const [status, rate] of Object.entries(c.errorRateWindow))
      errorRateWindow.set({ ...labels, status }, rate);
    retries.set(labels, c.retries);
    throttles.set(labels, c.throttles);
    avg.set(labels, c.averageConcurrency);
    peak.set(labels, c.peakConcurrency);
  }
  const jobLabels = ['integration', 'tenant', 'job'] as const;
  const processed = gauge('sluice_report_job_processed', 'Items processed by the job', jobLabels);
  const failed = gauge('sluice_report_job_failed', 'Items dead-lettered by the job', jobLabels);
  const duration = gauge('sluice_report_job_duration_seconds', 'How long the job has run', jobLabels);
  const long = gauge(
    'sluice_report_job_long_running',
    '1 when a running job exceeds longRunningMs',
    jobLabels,
  );
  for (const job of report.jobs) {
    const labels = { ...base, job: job.name };
    processed.set(labels, job.processed);
    failed.set(labels, job.failed);
    duration.set(labels, job.durationMs / 1000);
    long.set(labels, job.longRunning ? 1 : 0);
  }
  return registry;
}
