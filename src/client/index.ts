/**
 * `sluice/client`: a fetch-compatible client that paces below the server's limits, and its building blocks.
 *
 * @example
 * ```ts
 * import { createClient } from 'sluice/client';
 * const client = createClient({ baseUrl: 'https://api.example.com/' });
 * ```
 */
export * from './backoff.js';
export { type Client, createClient } from './client.js';
export { RECOVER_EVERY } from './client-adapt.js';
export { type ClientBudget, shareOf } from './client-budget.js';
export type { ClientClassStats } from './client-class.js';
export { HttpStatusError } from './client-errors.js';
export type { ClientEvents, ClientListener } from './client-events.js';
export * from './client-metrics.js';
export type { ClientClass, ClientOptions } from './client-options.js';
export {
  createPacer,
  type Pacer,
  type QuotaReport,
  type RateChange,
  REPEAT_WINDOW_MS,
} from './client-pacer.js';
export * from './client-paginate.js';
export {
  type ClassReport,
  formatReport,
  type JobStatus,
  type MonitoringReport,
  type MonitoringReportOptions,
  monitoringReport,
  reportMetrics,
} from './client-report.js';
export { endpointOf, STATS_WINDOWS, type TrafficCounts, type WindowCounts } from './client-stats.js';
export * from './hints.js';
export * from './retry-policy.js';
export * from './retry-policy-budget.js';
export * from './retry-policy-presets.js';
export * from './scheduler.js';
