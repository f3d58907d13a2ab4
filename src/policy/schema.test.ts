import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseDuration } from '../core/duration.js';
import { parsePolicies } from './config.js';

const schema = JSON.parse(readFileSync(new URL('../../schema/sluice.schema.json', import.meta.url), 'utf8'));
const validate = new Ajv2020({ allErrors: true }).compile(schema);

const EXAMPLE = parse(`
environment: production
policies:
  - name: commands
    match: { class: command, methods: [POST], paths: [/platform/v2/process/:siteIdentifier] }
    key: [ip, { param: siteIdentifier }]
    scope: endpoint
    limits:
      - { type: tokenBucket, rate: 1, per: 5m, burst: 1 }
      - { type: fixedWindow, limit: 20, window: 1m30s }
    concurrency: { max: 5, ttl: 30s }
    cost: 2
    modes: { production: shadow }
`);

describe('the JSON Schema for editors (schema/sluice.schema.json)', () => {
  it('accepts what the loader accepts', () => {
    expect(() => parsePolicies(EXAMPLE)).not.toThrow();
    expect(validate(EXAMPLE), JSON.stringify(validate.errors)).toBe(true);
  });

  it('rejects what the loader rejects, at the same place', () => {
    const bad = [
      { policies: [{ name: 'a', limits: [{ type: 'fixedWindow', limit: 5, window: 'ten' }] }] },
      { policies: [{ name: 'a', limits: [{ type: 'leakyBucket' }] }] },
      { policies: [{ name: 'a', limits: [{ type: 'fixedWindow', limit: 1, window: '1s' }], key: 'cookie' }] },
      { policies: [{ name: 'a' }] },
      { policies: [{ name: 'a', concurrency: { max: 0 } }] },
      { policies: [{ name: 'a', concurrency: { max: 1 }, mode: 'dry-run' }] },
      { policies: [{ name: 'a', concurrency: { max: 1 }, limts: [] }] },
    ];
    for (const config of bad) {
      expect(validate(config), JSON.stringify(config)).toBe(false);
      expect(() => parsePolicies(config)).toThrow();
    }
  });

  it('property: the schema and the loader agree on the syntax of durations', () => {
    const part = fc.tuple(
      fc.oneof(fc.nat({ max: 999 }).map(String), fc.constant('1.5'), fc.constant('.5'), fc.constant('x')),
      fc.constantFrom('', ' '),
      fc.constantFrom('ms', 's', 'm', 'h', 'd', 'w', ''),
    );
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 3 }), fc.constantFrom('', ' '), (parts, gap) => {
        const text = parts.map((p) => p.join('')).join(gap);
        let parses = true;
        try {
          parseDuration(text);
        } catch {
          parses = false;
        }
        const config = {
          policies: [{ name: 'a', limits: [{ type: 'fixedWindow', limit: 1, window: text }] }],
        };
        expect(validate(config), text).toBe(parses);
      }),
      { numRuns: 500 },
    );
  });
});
