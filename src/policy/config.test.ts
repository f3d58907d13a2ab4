import { describe, expect, it } from 'vitest';
import { loadPolicies, parsePolicies } from './config.js';

const YAML = `
environment: production
policies:
  - name: queries
    match: { class: query }
    key: ip
    limits:
      - { type: slidingWindow, limit: 100, window: 1m }
  - name: commands
    match: { class: command }
    key: ip
    limits:
      - { type: fixedWindow, limit: 20, window: 1m }
    concurrency: { max: 5, ttl: 30s }
    modes: { production: shadow, dev: enforce }
  - name: process
    match:
      methods: [post]
      paths: [/platform/v2/process/:siteIdentifier]
    key: [{ param: siteIdentifier }]
    limits:
      - { type: tokenBucket, rate: 1, per: 5m, burst: 1 }
  - name: per-endpoint
    match: { paths: ['/**'] }
    scope: endpoint
    key: [apiKey, { header: X-Tenant }]
    limits:
      - { type: fixedWindow, limit: 5, window: 1s }
`;

describe('policy configuration', () => {
  it('loads YAML into validated policies, with the mode of the environment', () => {
    const { environment, policies } = loadPolicies(YAML);
    expect(environment).toBe('production');
    expect(policies.map((p) => [p.name, p.mode, p.scope])).toEqual([
      ['queries', 'enforce', 'shared'],
      ['commands', 'shadow', 'shared'],
      ['process', 'enforce', 'shared'],
      ['per-endpoint', 'enforce', 'endpoint'],
    ]);
    const process = policies[2]!;
    expect([...process.methods!]).toEqual(['POST']);
    expect(process.paths![0]!.match('/platform/v2/process/site-1')?.params).toEqual({
      siteIdentifier: 'site-1',
    });
    expect(process.limits[0]).toMatchObject({ kind: 'tokenBucket', burst: 1, intervalMs: 300_000 });
    expect(process.limits[0]!.id).toBe(`policy:process:${process.limits[0]!.name}`);
    expect(policies[1]!.concurrency).toEqual({ max: 5, ttlMs: 30_000 });
    expect(policies[3]!.key).toEqual(['apiKey', { header: 'x-tenant' }]);
    expect([...policies[0]!.classes!]).toEqual(['query']);
  });

  it('an explicit environment overrides the configuration’s own; JSON loads too', () => {
    expect(loadPolicies(YAML, { environment: 'dev' }).policies[1]!.mode).toBe('enforce');
    const json = JSON.stringify({
      policies: [{ name: 'a', limits: [{ type: 'fixedWindow', limit: 1, window: '1s' }] }],
    });
    expect(loadPolicies(json, { format: 'json' }).policies[0]!.key).toEqual(['ip']);
  });

  it('names the path and the expectation of every mistake', () => {
    const limit = { type: 'fixedWindow', limit: 1, window: '1s' };
    const cases: [unknown, RegExp][] = [
      [
        {
          policies: [
            { name: 'a', limits: [limit] },
            { name: 'b', limits: [limit] },
            { name: 'c', limits: [{ type: 'fixedWindow', limit: 5, window: 'ten' }] },
          ],
        },
        /`policies\[2\]\.limits\[0\]\.window` to be a duration like "250ms".*got `"ten"`/,
      ],
      [
        { policies: [{ name: 'a', limits: [{ type: 'leakyBucket' }] }] },
        /`policies\[0\]\.limits\[0\]\.type` to be "tokenBucket", "fixedWindow" or "slidingWindow"/,
      ],
      [
        { policies: [{ name: 'a', limits: [{ type: 'tokenBucket', rate: -1 }] }] },
        /`policies\[0\]\.limits\[0\]\.rate`/,
      ],
      [{ policies: [{ name: 'a', limits: [limit], key: ['ip', 'cookie'] }] }, /`policies\[0\]\.key\[1\]`/],
      [
        { policies: [{ name: 'a', limits: [limit], match: { methods: ['GE T'] } }] },
        /`policies\[0\]\.match\.methods\[0\]` to be an HTTP method/,
      ],
      [
        { policies: [{ name: 'a', limits: [limit], match: { paths: ['items'] } }] },
        /`policies\[0\]\.match\.paths\[0\]`/,
      ],
      [
        { policies: [{ name: 'a', limits: [limit], match: { class: 'read' } }] },
        /`policies\[0\]\.match\.class` to be "query" or "command"/,
      ],
      [{ policies: [{ name: 'a', limits: [limit], mode: 'dry-run' }] }, /`policies\[0\]\.mode`/],
      [
        { policies: [{ name: 'a', limits: [limit], modes: { prod: 'dry' } }] },
        /`policies\[0\]\.modes\.prod`/,
      ],
      [{ policies: [{ name: 'a', limits: [limit], scope: 'route' }] }, /`policies\[0\]\.scope`/],
      [{ policies: [{ name: 'a', limits: [limit], cost: -1 }] }, /`policies\[0\]\.cost`/],
      [{ policies: [{ name: 'a', concurrency: { max: 0 } }] }, /`policies\[0\]\.concurrency\.max`/],
      [{ policies: [{ name: 'a' }] }, /no `limits` and no `concurrency`/],
      [
        {
          policies: [
            { name: 'a', limits: [limit] },
            { name: 'a', limits: [limit] },
          ],
        },
        /both named `a`/,
      ],
      [{ policies: [{ name: 'a', limits: [limit], limts: [] }] }, /Unknown option `limts`/],
      [
        { policies: [{ name: 'a', limits: [limit, limit] }] },
        /`policies\[0\]\.limits\[1\]\.name`|distinct `name`/,
      ],
      [{ policies: {} }, /`policies` to be a list/],
      [
        { policies: [{ name: 'a', limits: [limit], key: [{ param: 'site' }] }] },
        /`policies\[0\]\.key\[0\]\.param` to be a parameter that every pattern of `match.paths` declares \(`:site`\)/,
      ],
      [
        {
          policies: [{ name: 'a', limits: [limit], key: [{ param: 'site' }], match: { paths: ['/s/:id'] } }],
        },
        /declares \(`:site`\)/,
      ],
      [
        { policies: [{ name: 'a', limits: [limit], match: { paths: [] } }] },
        /`policies\[0\]\.match\.paths` to be a non-empty list/,
      ],
      [
        { policies: [{ name: 'a', limits: [limit], match: { methods: [] } }] },
        /`policies\[0\]\.match\.methods` to be a non-empty list/,
      ],
      [{ policies: [{ name: 'a', limits: [limit], whenMissing: 'ignore' }] }, /`policies\[0\]\.whenMissing`/],
    ];
    for (const [config, message] of cases)
      expect(() => parsePolicies(config), String(message)).toThrow(message);
    expect(() => loadPolicies('policies: [')).toThrow(/not valid YAML/);
  });
});
