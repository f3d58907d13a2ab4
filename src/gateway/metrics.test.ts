import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import { parsePolicies } from '../policy/config.js';
import { createEnforcer, type RequestInfo } from '../policy/enforce.js';
import { createMemoryStore } from '../store/memory/memory-store.js';
import { createResilientStore } from '../store/resilient.js';
import type { Store } from '../store/types.js';
import { createGatewayMetrics, type GatewayMetrics, policyOutcome } from './metrics.js';

const T0 = 1_700_000_040_000; // on a whole minute: windows are aligned to the epoch
const IP = '203.0.113.9';
const API_KEY = 'secret-api-key-42';
const request = (over: Partial<RequestInfo> = {}): RequestInfo => ({
  method: 'GET',
  path: '/items?user=alice',
  headers: { 'x-api-key': API_KEY },
  remoteAddress: IP,
  ...over,
});

function enforcerOf(config: unknown, store?: Store) {
  const clock = createManualClock(T0);
  return createEnforcer({
    policies: parsePolicies(config),
    store: store ?? createMemoryStore({ clock: clock.now }),
    clock: clock.now,
  });
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
async function sampleOf(metrics: GatewayMetrics, name: string, labels: Record<string, string> = {}) {
  const found = parse(await metrics.text()).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  expect(found.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return found[0]?.value ?? 0;
}

describe('createGatewayMetrics', () => {
  it('counts decisions per policy, shadow would-rejects, near-limit requests and rate rejections', async () => {
    const enforcer = enforcerOf({
      policies: [
        { name: 'per-ip', key: 'ip', limits: [{ type: 'fixedWindow', limit: 5, window: '1m' }] },
        {
          name: 'per-key',
          key: 'apiKey',
          mode: 'shadow',
          limits: [{ type: 'fixedWindow', limit: 2, window: '1m' }],
        },
      ],
    });
    const metrics = createGatewayMetrics();
    for (let i = 0; i < 6; i++) metrics.observeDecision(await enforcer.decide(request()), 0.00002);

    const decisions = 'sluice_decisions_total';
    expect(
      await sampleOf(metrics, decisions, { policy: 'per-ip', mode: 'enforce', outcome: 'allowed' }),
    ).toBe(5);
    expect(
      await sampleOf(metrics, decisions, { policy: 'per-ip', mode: 'enforce', outcome: 'rejected' }),
    ).toBe(1);
    // The shadow policy allows 2 and would have rejected the other 4; it never rejects.
    expect(
      await sampleOf(metrics, decisions, { policy: 'per-key', mode: 'shadow', outcome: 'allowed' }),
    ).toBe(2);
    expect(
      await sampleOf(metrics, decisions, { policy: 'per-key', mode: 'shadow', outcome: 'would_reject' }),
    ).toBe(4);
    expect(await sampleOf(metrics, 'sluice_shadow_would_reject_total', { policy: 'per-key' })).toBe(4);
    // per-ip: remaining 4, 3, 2, 1, 0: only 0 is under 20 % of 5. per-key: remaining 1, 0: 0 is under 0.4.
    expect(await sampleOf(metrics, 'sluice_near_limit_total', { policy: 'per-ip' })).toBe(1);
    expect(await sampleOf(metrics, 'sluice_near_limit_total', { policy: 'per-key' })).toBe(1);
    expect(await sampleOf(metrics, 'sluice_rejections_total', { cause: 'rate', status: '429' })).toBe(1);
    expect(await sampleOf(metrics, 'sluice_decision_duration_seconds_count')).toBe(6);
    expect(await sampleOf(metrics, 'sluice_decision_duration_seconds_bucket', { le: '0.00001' })).toBe(0);
    expect(await sampleOf(metrics, 'sluice_decision_duration_seconds_bucket', { le: '0.000025' })).toBe(6);

    const text = await metrics.text();
    expect(text).not.toContain(IP);
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain('/items');
    expect(text).not.toContain('alice');
  });

  it('counts in-flight leases per policy, taken off exactly once; a concurrency rejection holds none', async () => {
    const enforcer = enforcerOf({
      policies: [
        {
          name: 'merchant',
          key: 'ip',
          limits: [{ type: 'fixedWindow', limit: 100, window: '1m' }],
          concurrency: { max: 1 },
        },
        { name: 'global', key: 'ip', concurrency: { max: 10 } },
      ],
    });
    const metrics = createGatewayMetrics();
    const first = await enforcer.decide(request());
    metrics.observeDecision(first, 0.0001);
    const done = metrics.requestStarted(first);
    expect(await sampleOf(metrics, 'sluice_in_flight', { policy: 'merchant' })).toBe(1);
    expect(await sampleOf(metrics, 'sluice_in_flight', { policy: 'global' })).toBe(1);

    const second = await enforcer.decide(request());
    expect(second.allowed).toBe(false);
    metrics.observeDecision(second, 0.0001);
    const doneSecond = metrics.requestStarted(second);
    expect(await sampleOf(metrics, 'sluice_in_flight', { policy: 'merchant' })).toBe(1);
    expect(await sampleOf(metrics, 'sluice_rejections_total', { cause: 'concurrency', status: '429' })).toBe(
      1,
    );
    expect(
      await sampleOf(metrics, 'sluice_decisions_total', { policy: 'merchant', outcome: 'rejected' }),
    ).toBe(1);
    // Turned away by `merchant` first, `global` was not asked: it is not counted.
    expect(await sampleOf(metrics, 'sluice_decisions_total', { policy: 'global' })).toBe(1);

    done();
    done();
    doneSecond();
    await first.release();
    expect(await sampleOf(metrics, 'sluice_in_flight', { policy: 'merchant' })).toBe(0);
    expect(await sampleOf(metrics, 'sluice_in_flight', { policy: 'global' })).toBe(0);
  });

  it('counts degraded decisions (from leases or given), store errors, and refuses unknown reasons as other', async () => {
    const memory = createMemoryStore();
    const broken: Store = {
      ...memory,
      consume: () => Promise.reject(new Error('redis down')),
      acquire: () => Promise.reject(new Error('redis down')),
    };
    const metrics = createGatewayMetrics();
    const store = createResilientStore(broken, {
      failureMode: 'fallback',
      onError: (_error, reason) => metrics.observeStoreError(reason),
    });
    const enforcer = enforcerOf(
      {
        policies: [
          {
            name: 'p',
            limits: [{ type: 'fixedWindow', limit: 10, window: '1m' }],
            concurrency: { max: 5 },
          },
        ],
      },
      store,
    );
    const verdict = await enforcer.decide(request());
    expect(verdict.applied[0]?.lease?.reason).toBe('fallback');
    metrics.observeDecision(verdict, 0.001);
    metrics.observeDecision(await enforcerOf({ policies: [] }).decide(request()), 0.001, 'store-timeout');
    metrics.observeStoreError('nonsense' as 'store-error');
    expect(await sampleOf(metrics, 'sluice_degraded_decisions_total', { reason: 'fallback' })).toBe(1);
    expect(await sampleOf(metrics, 'sluice_degraded_decisions_total', { reason: 'store-timeout' })).toBe(1);
    // Both store calls of the decision failed: acquire, then consume (whose degraded reason the verdict drops).
    expect(await sampleOf(metrics, 'sluice_store_errors_total', { reason: 'store-error' })).toBe(2);
    expect(await sampleOf(metrics, 'sluice_store_errors_total', { reason: 'other' })).toBe(1);
  });

  it('caps the distinct policy label values; beyond the cap, policy="other"', async () => {
    const policies = ['a', 'b', 'c', 'd'].map((name) => ({
      name,
      key: 'ip',
      limits: [{ type: 'fixedWindow', limit: 100, window: '1m' }],
    }));
    const metrics = createGatewayMetrics({ maxPolicies: 2 });
    metrics.observeDecision(await enforcerOf({ policies }).decide(request()), 0.001);
    const policyLabels = parse(await metrics.text())
      .filter((s) => s.name === 'sluice_decisions_total')
      .map((s) => [s.labels.policy, s.value]);
    expect(policyLabels).toEqual([
      ['a', 1],
      ['b', 1],
      ['other', 2],
    ]);
  });

  it('counts upstream answers by status class, other rejections, and times upstream calls', async () => {
    const metrics = createGatewayMetrics();
    metrics.observeUpstream(200, 0.02);
    metrics.observeUpstream(204, 0.02);
    metrics.observeUpstream(503, 0.5);
    metrics.observeUpstream('error', 1);
    metrics.observeUpstream(42, Number.NaN);
    metrics.observeUnauthorized();
    metrics.observeRejection('shed', 503);
    metrics.observeRejection('unauthorized', 1234);
    const upstream = 'sluice_upstream_responses_total';
    expect(await sampleOf(metrics, upstream, { status_class: '2xx' })).toBe(2);
    expect(await sampleOf(metrics, upstream, { status_class: '5xx' })).toBe(1);
    expect(await sampleOf(metrics, upstream, { status_class: 'error' })).toBe(2);
    expect(await sampleOf(metrics, 'sluice_upstream_duration_seconds_count')).toBe(4); // NaN not observed
    expect(await sampleOf(metrics, 'sluice_upstream_duration_seconds_sum')).toBeCloseTo(1.54);
    const rejections = 'sluice_rejections_total';
    expect(await sampleOf(metrics, rejections, { cause: 'unauthorized', status: '401' })).toBe(1);
    expect(await sampleOf(metrics, rejections, { cause: 'unauthorized', status: 'other' })).toBe(1);
    expect(await sampleOf(metrics, rejections, { cause: 'shed', status: '503' })).toBe(1);
  });

  it('registers in a given registry with a prefix and buckets, and default process metrics on request', async () => {
    const registry = new Registry();
    const metrics = createGatewayMetrics({
      registry,
      prefix: 'edge_',
      buckets: [0.001, 1],
      collectDefault: true,
    });
    expect(metrics.registry).toBe(registry);
    metrics.observeDecision(await enforcerOf({ policies: [] }).decide(request()), 0.5);
    const text = await registry.metrics();
    expect(text).toContain('edge_decisions_total');
    expect(text).toContain('edge_process_cpu_user_seconds_total');
    expect(text).toContain('edge_decision_duration_seconds_bucket{le="1"} 1');
    expect(text).not.toContain('sluice_');
    // Two gateways, two private registries: no collision.
    expect(() => createGatewayMetrics()).not.toThrow();
    expect(() => createGatewayMetrics()).not.toThrow();
  });

  it('names the option, what it expected and what it got', () => {
    expect(() => createGatewayMetrics({ prefix: 'bad-prefix' })).toThrow(ConfigError);
    expect(() => createGatewayMetrics({ prefix: 'bad-prefix' })).toThrow(
      /`prefix`.*got `"bad-prefix"` \(string\)/,
    );
    expect(() => createGatewayMetrics({ buckets: [0.1, 0.01] })).toThrow(/`buckets`.*strictly increasing/);
    expect(() => createGatewayMetrics({ maxPolicies: 0 })).toThrow(
      /`maxPolicies` to be an integer ≥ 1, got `0`/,
    );
    expect(() => createGatewayMetrics({ prefx: 'x' } as never)).toThrow(/Unknown option `prefx`/);
    expect(() => createGatewayMetrics({ registry: {} as Registry })).toThrow(/`registry`/);
  });

  it('policyOutcome: the policy’s own answer, undefined when it was not asked', async () => {
    const verdict = await enforcerOf({
      policies: [{ name: 'p', mode: 'shadow', limits: [{ type: 'fixedWindow', limit: 1, window: '1m' }] }],
    }).decide(request());
    const applied = verdict.applied[0]!;
    expect(policyOutcome(applied)).toBe('allowed');
    expect(policyOutcome({ ...applied, decisions: [{ ...applied.decisions[0]!, allowed: false }] })).toBe(
      'would_reject',
    );
    expect(policyOutcome({ ...applied, decisions: [] })).toBeUndefined();
  });
});
