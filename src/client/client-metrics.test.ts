import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import type { Client } from './client.js';
import type { ClientEvents, ClientListener } from './client-events.js';
import { clientMetrics } from './client-metrics.js';

/** A stand-in for a client: collects listeners and lets the test emit events to them. */
function fakeClient() {
  const listeners = new Map<keyof ClientEvents, Set<(event: never) => void>>();
  const on: Client['on'] = (event, listener) => {
    const set = listeners.get(event) ?? new Set();
    listeners.set(event, set);
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  };
  const emit = <E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]) => {
    for (const listener of listeners.get(event) ?? []) (listener as ClientListener<E>)(payload);
  };
  const listening = () => [...listeners.values()].reduce((n, set) => n + set.size, 0);
  return { on, emit, listening };
}

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`Unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[name!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with that name and (at least) those labels; 0 when absent. */
async function sampleOf(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const found = parse(await registry.metrics()).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  expect(found.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return found[0]?.value ?? 0;
}

const Q = { class: 'query', endpoint: 'GET /orders/:id' };
const started = (over: Partial<ClientEvents['started']> = {}): ClientEvents['started'] => ({
  ...Q,
  attempt: 1,
  queueWaitMs: 0,
  running: 1,
  ...over,
});
const done = (over: Partial<ClientEvents['done']> = {}): ClientEvents['done'] => ({
  ...Q,
  status: 200,
  ok: true,
  attempts: 1,
  durationMs: 10,
  ...over,
});
/** A request that ended without a response. */
const failed = (error: string, attempts = 1): ClientEvents['done'] => ({
  ...Q,
  ok: false,
  attempts,
  durationMs: 10,
  error: new Error(error),
});
const retry: ClientEvents['retry'] = { ...Q, attempt: 1, reason: 'status', delayMs: 100, status: 503 };

function setup(options?: Parameters<typeof clientMetrics>[1]) {
  const client = fakeClient();
  const metrics = clientMetrics(client, options);
  return { client, metrics, registry: metrics.registry };
}

describe('clientMetrics', () => {
  it('counts finished requests by outcome, keeping 429 and 409 exact', async () => {
    const { client, registry } = setup();
    for (const status of [200, 204, 301, 404, 429, 429, 409, 503]) client.emit('done', done({ status }));
    client.emit('done', failed('ECONNRESET'));
    const count = (outcome: string) => sampleOf(registry, 'sluice_client_requests_total', { ...Q, outcome });
    expect(await count('2xx')).toBe(2);
    expect(await count('3xx')).toBe(1);
    expect(await count('4xx')).toBe(1);
    expect(await count('429')).toBe(2);
    expect(await count('409')).toBe(1);
    expect(await count('5xx')).toBe(1);
    expect(await count('error')).toBe(1);
  });

  it('records request durations and queue waits in seconds, ignoring invalid times', async () => {
    const { client, registry } = setup({ buckets: [0.1, 1] });
    client.emit('done', done({ durationMs: 50 }));
    client.emit('done', done({ durationMs: 500 }));
    client.emit('done', done({ durationMs: 5000 }));
    client.emit('done', done({ durationMs: Number.NaN }));
    client.emit('started', started({ queueWaitMs: 250 }));
    client.emit('started', started({ queueWaitMs: -1 }));

    expect(await registry.getSingleMetricAsString('sluice_client_request_duration_seconds')).toBe(
      [
        '# HELP sluice_client_request_duration_seconds Time from the call to the end of a request, queueing and retries included.',
        '# TYPE sluice_client_request_duration_seconds histogram',
        'sluice_client_request_duration_seconds_bucket{le="0.1",class="query",endpoint="GET /orders/:id"} 1',
        'sluice_client_request_duration_seconds_bucket{le="1",class="query",endpoint="GET /orders/:id"} 2',
        'sluice_client_request_duration_seconds_bucket{le="+Inf",class="query",endpoint="GET /orders/:id"} 3',
        'sluice_client_request_duration_seconds_sum{class="query",endpoint="GET /orders/:id"} 5.55',
        'sluice_client_request_duration_seconds_count{class="query",endpoint="GET /orders/:id"} 3',
      ].join('\n'),
    );
    const wait = 'sluice_client_queue_wait_seconds';
    expect(await sampleOf(registry, `${wait}_count`, { class: 'query' })).toBe(1);
    expect(await sampleOf(registry, `${wait}_sum`, { class: 'query' })).toBe(0.25);
    expect(await sampleOf(registry, `${wait}_bucket`, { class: 'query', le: '0.1' })).toBe(0);
    expect(await sampleOf(registry, `${wait}_bucket`, { class: 'query', le: '1' })).toBe(1);
    expect(await sampleOf(registry, 'sluice_client_attempts_total', Q)).toBe(2);
  });

  it('counts retries, throttles, sheds, gate closings and persistent throttling', async () => {
    const { client, registry } = setup();
    client.emit('retry', retry);
    client.emit('retry', { ...retry, reason: 'network-error' });
    client.emit('retry', retry);
    client.emit('throttled', { ...Q, status: 429, retryAfterMs: 1000 });
    client.emit('throttled', { ...Q, status: 409, retryAfterMs: 200 });
    client.emit('throttled', { ...Q, status: 429, retryAfterMs: 1000 });
    client.emit('shed', { ...Q, reason: 'full' });
    client.emit('shed', { ...Q, reason: 'retry-budget' });
    client.emit('gateClosed', { class: 'query', untilMs: 5000, reason: 'throttled' });
    client.emit('gateClosed', { class: 'query', untilMs: 9000, reason: 'exhausted' });
    client.emit('gateOpened', { class: 'query' });
    client.emit('persistentThrottling', { class: 'query', throttles: 10, windowMs: 60_000 });

    const at = (name: string, labels: Record<string, string>) =>
      sampleOf(registry, `sluice_client_${name}`, { class: 'query', ...labels });
    expect(await at('retries_total', { reason: 'status' })).toBe(2);
    expect(await at('retries_total', { reason: 'network-error' })).toBe(1);
    expect(await at('throttles_total', { status: '429' })).toBe(2);
    expect(await at('throttles_total', { status: '409' })).toBe(1);
    expect(await at('shed_total', { reason: 'full' })).toBe(1);
    expect(await at('shed_total', { reason: 'retry-budget' })).toBe(1);
    expect(await at('gate_closed_total', { reason: 'throttled' })).toBe(1);
    expect(await at('gate_closed_total', { reason: 'exhausted' })).toBe(1);
    expect(await at('persistent_throttling_total', {})).toBe(1);
  });

  it('keeps the last concurrency cap and pacing rate, 0 meaning unlimited', async () => {
    const { client, registry } = setup();
    expect(await sampleOf(registry, 'sluice_client_concurrency_limit', { class: 'query' })).toBe(0);
    client.emit('concurrency', { class: 'query', from: 8, to: 4, reason: 'conflict' });
    client.emit('concurrency', { class: 'command', from: 2, to: 1, reason: 'conflict' });
    client.emit('rate', { class: 'query', to: 2.5, reason: 'throttled' });
    expect(await sampleOf(registry, 'sluice_client_concurrency_limit', { class: 'query' })).toBe(4);
    expect(await sampleOf(registry, 'sluice_client_concurrency_limit', { class: 'command' })).toBe(1);
    expect(await sampleOf(registry, 'sluice_client_rate_limit_per_second', { class: 'query' })).toBe(2.5);
    client.emit('rate', { class: 'query', from: 2.5, reason: 'recovery' });
    client.emit('concurrency', { class: 'query', from: 4, to: 5, reason: 'recovery' });
    expect(await sampleOf(registry, 'sluice_client_rate_limit_per_second', { class: 'query' })).toBe(0);
    expect(await sampleOf(registry, 'sluice_client_concurrency_limit', { class: 'query' })).toBe(5);
  });

  describe('in_flight', () => {
    const inFlight = (registry: Registry, name = 'query') =>
      sampleOf(registry, 'sluice_client_in_flight', { class: name });

    it('counts attempts between their start and their end', async () => {
      const { client, registry } = setup();
      client.emit('started', started());
      client.emit('started', started({ running: 2 }));
      client.emit('started', started({ class: 'command' }));
      expect(await inFlight(registry)).toBe(2);
      expect(await inFlight(registry, 'command')).toBe(1);
      client.emit('done', done());
      expect(await inFlight(registry)).toBe(1);
      client.emit('done', done({ status: 500, ok: false }));
      client.emit('done', done({ class: 'command' }));
      expect(await inFlight(registry)).toBe(0);
      expect(await inFlight(registry, 'command')).toBe(0);
    });

    it('ends an attempt on its retry, and does not end one for a request shed before sending', async () => {
      const { client, registry } = setup();
      // Retried once, then answered.
      client.emit('started', started());
      client.emit('retry', retry);
      expect(await inFlight(registry)).toBe(0);
      client.emit('started', started({ attempt: 2 }));
      expect(await inFlight(registry)).toBe(1);
      client.emit('done', done({ attempts: 2 }));
      expect(await inFlight(registry)).toBe(0);
      // Shed while queued (never sent), while another request runs.
      client.emit('started', started());
      client.emit('shed', { ...Q, reason: 'full' });
      client.emit('done', failed('full', 0));
      expect(await inFlight(registry)).toBe(1);
      // Aborted while sleeping before a retry: its attempt ended with the retry.
      client.emit('started', started());
      client.emit('retry', retry);
      client.emit('shed', { ...Q, reason: 'aborted' });
      client.emit('done', failed('aborted'));
      expect(await inFlight(registry)).toBe(1);
      // A retry refused by the budget: the last attempt ends with its done.
      client.emit('started', started());
      client.emit('shed', { ...Q, reason: 'retry-budget' });
      client.emit('done', done({ status: 503, ok: false }));
      expect(await inFlight(registry)).toBe(1);
      client.emit('done', done());
      expect(await inFlight(registry)).toBe(0);
    });
  });

  it('adds the constant labels to every series', async () => {
    const labels = { integration: 'erp-sync', tenant: 'acme' };
    const { client, registry } = setup({ labels });
    client.emit('started', started());
    client.emit('retry', retry);
    client.emit('throttled', { ...Q, status: 429, retryAfterMs: 1000 });
    client.emit('shed', { ...Q, reason: 'timeout' });
    client.emit('gateClosed', { class: 'query', untilMs: 5000, reason: 'throttled' });
    client.emit('persistentThrottling', { class: 'query', throttles: 10, windowMs: 60_000 });
    client.emit('concurrency', { class: 'query', from: 8, to: 4, reason: 'conflict' });
    client.emit('rate', { class: 'query', to: 1, reason: 'throttled' });
    client.emit('done', done());

    const samples = parse(await registry.metrics());
    const names = new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
    expect([...names].sort()).toEqual(
      [
        'attempts_total',
        'concurrency_limit',
        'gate_closed_total',
        'in_flight',
        'persistent_throttling_total',
        'queue_wait_seconds',
        'rate_limit_per_second',
        'request_duration_seconds',
        'requests_total',
        'retries_total',
        'shed_total',
        'throttles_total',
      ].map((n) => `sluice_client_${n}`),
    );
    for (const sample of samples) expect(sample.labels, sample.name).toMatchObject(labels);
    expect(
      await sampleOf(registry, 'sluice_client_requests_total', { ...labels, ...Q, outcome: '2xx' }),
    ).toBe(1);
  });

  it('counts endpoints past maxEndpoints as other', async () => {
    const { client, registry } = setup({ maxEndpoints: 2 });
    for (const endpoint of ['GET /a', 'GET /b', 'GET /c', 'GET /a', 'GET /d']) {
      client.emit('started', started({ endpoint }));
      client.emit('done', done({ endpoint }));
    }
    const samples = parse(await registry.metrics()).filter((s) => s.name === 'sluice_client_requests_total');
    expect(samples.map((s) => [s.labels.endpoint, s.value])).toEqual([
      ['GET /a', 2],
      ['GET /b', 1],
      ['other', 2],
    ]);
    const attempts = 'sluice_client_attempts_total';
    expect(await sampleOf(registry, attempts, { endpoint: 'other' })).toBe(2);
    const durations = parse(await registry.metrics()).filter(
      (s) => s.name === 'sluice_client_request_duration_seconds_count',
    );
    expect(durations.map((s) => s.labels.endpoint)).toEqual(['GET /a', 'GET /b', 'other']);
  });

  it('uses the prefix and the given registry', async () => {
    const registry = new Registry();
    const { client, metrics } = setup({ registry, prefix: 'erp_' });
    expect(metrics.registry).toBe(registry);
    client.emit('done', done());
    expect(await sampleOf(registry, 'erp_requests_total', { outcome: '2xx' })).toBe(1);
    expect(parse(await registry.metrics()).every((s) => s.name.startsWith('erp_'))).toBe(true);
  });

  it('gives each call a private registry by default, so that two clients do not collide', () => {
    const a = setup();
    const b = setup();
    expect(a.registry).toBeInstanceOf(Registry);
    expect(a.registry).not.toBe(b.registry);
  });

  it('stops recording on close()', async () => {
    const { client, metrics, registry } = setup();
    expect(client.listening()).toBe(9);
    client.emit('done', done());
    metrics.close();
    metrics.close();
    expect(client.listening()).toBe(0);
    client.emit('done', done());
    client.emit('started', started());
    expect(await sampleOf(registry, 'sluice_client_requests_total', { outcome: '2xx' })).toBe(1);
    expect(await sampleOf(registry, 'sluice_client_attempts_total')).toBe(0);
  });

  it.each([
    [{ colour: 'red' }, 'colour', /Unknown option `colour`/],
    [{ registry: {} }, 'registry', /Expected `registry` to be a prom-client Registry/],
    [{ prefix: 'bad-prefix' }, 'prefix', /Expected `prefix` to be a metric name prefix.*got `"bad-prefix"`/],
    [{ labels: ['a'] }, 'labels', /Expected `labels` to be an object of label names to string values/],
    [{ labels: { 'bad-name': 'x' } }, 'labels', /label names matching.*got `"bad-name"` \(string\)/],
    [{ labels: { __x: 'x' } }, 'labels', /not starting with `__`.*got `"__x"`/],
    [{ labels: { endpoint: 'x' } }, 'labels', /names other than `class`, `endpoint`.*got `"endpoint"`/],
    [
      { labels: { tenant: 7 } },
      'labels.tenant',
      /Expected `labels.tenant` to be a string, got `7` \(number\)/,
    ],
    [{ maxEndpoints: -1 }, 'maxEndpoints', /Expected `maxEndpoints` to be an integer ≥ 0, got `-1`/],
    [{ maxEndpoints: 1.5 }, 'maxEndpoints', /an integer ≥ 0, got `1.5` \(number\)/],
    [{ buckets: [1, 0.5] }, 'buckets', /strictly increasing array of positive numbers/],
    [{ buckets: [] }, 'buckets', /Expected `buckets` to be a non-empty/],
  ])('refuses the options %j', (options, path, message) => {
    const attempt = () => clientMetrics(fakeClient(), options as never);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect((error as ConfigError).path).toBe(path);
    }
  });

  it('refuses something that is not an options object or not a client', () => {
    expect(() => clientMetrics(fakeClient(), null as never)).toThrow(
      /Expected `clientMetrics options` to be an options object, got `null`/,
    );
    expect(() => clientMetrics({} as never)).toThrow(/Expected `client` to be a client with an `on/);
  });

  it('accepts maxEndpoints 0, counting every endpoint as other', async () => {
    const { client, registry } = setup({ maxEndpoints: 0 });
    client.emit('done', done());
    expect(await sampleOf(registry, 'sluice_client_requests_total', { endpoint: 'other' })).toBe(1);
  });
});
