import { describe, expect, it } from 'vitest';
import { createClient, formatReport, monitoringReport, reportMetrics } from '../../src/client/index.js';
import { createManualClock } from '../../src/core/clock.js';

/** A client whose fake server answers by path: /ok 200, /missing 404, /busy 429 (Retry-After: 1), /down 503. */
async function exercised() {
  const clock = createManualClock(1_700_000_000_000);
  const fetch = (async (input: Parameters<typeof globalThis.fetch>[0]) => {
    const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
    const status = { '/ok': 200, '/missing': 404, '/busy': 429, '/down': 503 }[path] ?? 200;
    return new Response('{}', { status, headers: status === 429 ? { 'retry-after': '1' } : {} });
  }) as typeof globalThis.fetch;
  const client = createClient({
    fetch,
    adaptive: false,
    retry: { maxAttempts: 1 },
    classes: { api: { match: () => true } },
    clock: clock.now,
    sleep: clock.sleep,
  });
  for (const path of ['/ok', '/ok', '/ok', '/ok', '/ok', '/ok', '/missing', '/down'])
    await client.fetch(`https://api.test${path}`);
  await client.fetch('https://api.test/busy');
  return { client, clock };
}

describe('monitoringReport', () => {
  it('reads volume, errors by status, retries, throttles and concurrency per class; flags long-running jobs', async () => {
    const { client, clock } = await exercised();
    const report = monitoringReport({
      integration: 'erp-sync',
      tenant: 'acme',
      clients: { api: client },
      jobs: [
        { name: 'nightly', state: 'running', processed: 10, failed: 1, durationMs: 2 * 3_600_000 },
        { name: 'hourly', state: 'completed', processed: 5, failed: 0, durationMs: 60_000 },
      ],
      nowMs: clock.now(),
    });
    expect(report.classes).toHaveLength(1);
    const api = report.classes[0]!;
    expect(api).toMatchObject({ client: 'api', class: 'api', requests: 9, throttles: 1, peakConcurrency: 1 });
    expect(api.responses).toEqual({ 200: 6, 404: 1, 429: 1, 503: 1 });
    expect(api.errorRate['4xx']).toBeCloseTo(1 / 9, 10);
    expect(api.errorRate['429']).toBeCloseTo(1 / 9, 10);
    expect(api.errorRate['5xx']).toBeCloseTo(1 / 9, 10);
    expect(api.perWindow.reduce((a, w) => a + w.requests, 0)).toBe(9);
    expect(report.totals).toMatchObject({ requests: 9, throttles: 1 });
    expect(report.totals.errorRate).toBeCloseTo(3 / 9, 10);
    expect(report.jobs.map((j) => j.longRunning)).toEqual([true, false]);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report); // plain JSON

    const text = formatReport(report);
    expect(text).toContain('erp-sync (acme)');
    expect(text).toContain('9 requests, 33.3 % errors');
    expect(text).toContain('job nightly: running (LONG RUNNING)');

    const metrics = await reportMetrics(report).metrics();
    expect(metrics).toContain(
      'sluice_report_requests{integration="erp-sync",tenant="acme",client="api",class="api"} 9',
    );
    expect(metrics).toContain(
      'sluice_report_job_long_running{integration="erp-sync",tenant="acme",job="nightly"} 1',
    );
    expect(metrics).toMatch(/sluice_report_error_rate\{[^}]*status="429"\} 0\.111/);
  });

  it('error rates in the current window and with network errors; a reused registry drops stale series', async () => {
    const { client, clock } = await exercised();
    const first = monitoringReport({ integration: 'erp', clients: { api: client }, nowMs: clock.now() });
    expect(first.classes[0]!.errorRateWindow['5xx']).toBeCloseTo(1 / 9, 10);
    const registry = reportMetrics(first);
    expect(await registry.metrics()).toContain('status="5xx"');
    // A minute later, only successes: the current window has no errors, and the 5xx series of the window
    // gauge is gone from a reused registry.
    clock.advance(60_000);
    await client.fetch('https://api.test/ok');
    const later = monitoringReport({ integration: 'erp', clients: { api: client }, nowMs: clock.now() });
    expect(later.classes[0]!.errorRateWindow).toEqual({});
    const text = await reportMetrics(later, registry).metrics();
    expect(text).not.toMatch(/sluice_report_error_rate_window\{[^}]*status="5xx"/);
    expect(text).toMatch(/sluice_report_error_rate\{[^}]*status="5xx"\} 0\.1/); // since start: 1 of 10
    expect(formatReport(later)).toContain('(0.0 % in the current window)');
  });

  it('the current window is the one at the report time: quiet windows count as 0, old errors are not "now"', async () => {
    const { client, clock } = await exercised();
    const hourLater = clock.now() + 3_600_000;
    const report = monitoringReport({ integration: 'erp', clients: { api: client }, nowMs: hourLater });
    const api = report.classes[0]!;
    expect(api.errorRateWindow).toEqual({});
    expect(api.perWindow).toHaveLength(10);
    expect(api.perWindow.every((w) => w.requests === 0)).toBe(true);
    expect(api.perWindow[9]!.startMs).toBe(Math.floor(hourLater / 60_000) * 60_000);
    const now = monitoringReport({ integration: 'erp', clients: { api: client }, nowMs: clock.now() });
    expect(now.classes[0]!.perWindow[9]!.requests).toBe(9);
  });

  it('counts network errors in the error rate', async () => {
    const clock = createManualClock(0);
    const fetch = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof globalThis.fetch;
    const client = createClient({ fetch, retry: { maxAttempts: 1 }, clock: clock.now, sleep: clock.sleep });
    await client.fetch('https://api.test/').catch(() => undefined);
    const report = monitoringReport({ integration: 'x', clients: { c: client }, nowMs: 0 });
    expect(report.classes.find((c) => c.class === 'query')!.errorRate).toEqual({ network: 1 });
    expect(report.totals.errorRate).toBe(1);
  });

  it('rejects a missing integration and unknown options, naming them', () => {
    expect(() => monitoringReport({ integration: '' })).toThrow(/integration/);
    expect(() => monitoringReport({ integration: 'x', bogus: 1 } as never)).toThrow(/bogus/);
    expect(() => monitoringReport({ integration: 'x', clients: { a: {} as never } })).toThrow(/clients\.a/);
  });
});
