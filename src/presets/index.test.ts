import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { createRejection } from '../http/rejection.js';
import { loadPolicies, parsePolicies } from '../policy/config.js';
import { createEnforcer } from '../policy/enforce.js';
import { type Preset, presetNames, presetOf, presetOptions, presets } from './index.js';

const all = presetNames.map((name) => presets[name]);

/** Every object reachable from a value, for the freeze check. */
function* objectsOf(value: unknown): Generator<object> {
  if (typeof value !== 'object' || value === null) return;
  yield value;
  for (const item of Object.values(value)) yield* objectsOf(item);
}

/** The environments a preset's policies name, and no environment at all. */
const environmentsOf = (preset: Preset) => [
  undefined,
  ...new Set(preset.config.policies.flatMap((policy) => Object.keys(policy.modes ?? {}))),
];

describe('presets', () => {
  it('five presets, by name, in a stable order', () => {
    expect(presetNames).toEqual([
      'marketplace',
      'app-platform',
      'platform-api',
      'merchant-api',
      'sales-data',
    ]);
    for (const name of presetNames) {
      expect(presets[name].name).toBe(name);
      expect(presetOf(name)).toBe(presets[name]);
    }
    expect(all.map((preset) => preset.source.match(/seeds\/00\d/)?.[0])).toEqual([
      'seeds/000',
      'seeds/001',
      'seeds/002',
      'seeds/003',
      'seeds/004',
    ]);
  });

  it('presetOf: an unknown name is a ConfigError naming it and listing the valid ones', () => {
    for (const name of ['stripe', '', 'Marketplace', '__proto__', 'toString', 'constructor']) {
      let error: unknown;
      try {
        presetOf(name);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).path).toBe('preset');
      expect((error as ConfigError).message).toBe(
        'Expected `preset` to be one of "marketplace", "app-platform", "platform-api", "merchant-api", ' +
          `"sales-data", got \`${JSON.stringify(name)}\` (string)`,
      );
    }
    expect(() => presetOf(42 as unknown as string)).toThrow(/got `42` \(number\)/);
  });

  it('everything is frozen: the record, the names, each preset to the last value', () => {
    expect(Object.isFrozen(presets)).toBe(true);
    expect(Object.isFrozen(presetNames)).toBe(true);
    for (const preset of all)
      for (const object of objectsOf(preset)) expect(Object.isFrozen(object)).toBe(true);
    expect(() => {
      (presets['sales-data'].config.policies[0]!.limits as unknown[]).push({});
    }).toThrow(TypeError);
  });

  it('configs are plain JSON: they survive YAML and load as the same policies, in every environment', () => {
    for (const preset of all) {
      expect(JSON.parse(JSON.stringify(preset.config))).toEqual(preset.config);
      const yaml = stringifyYaml(preset.config);
      expect(yaml).not.toMatch(/[&*]a\d/); // no anchors or aliases: every value written out where it is used
      expect(parseYaml(yaml)).toEqual(preset.config);
      for (const environment of environmentsOf(preset)) {
        const direct = parsePolicies(preset.config, environment);
        const loaded = loadPolicies(yaml, environment === undefined ? {} : { environment });
        expect(
          loaded.policies.map((p) => [p.name, p.mode, p.limits.map((l) => l.key), p.concurrency]),
        ).toEqual(direct.policies.map((p) => [p.name, p.mode, p.limits.map((l) => l.key), p.concurrency]));
      }
      // A preset merges into a larger configuration.
      const merged = parsePolicies({
        environment: 'dev',
        policies: [
          ...preset.config.policies,
          { name: 'mine', limits: [{ type: 'fixedWindow', limit: 1, window: '1s' }] },
        ],
      });
      expect(merged.policies.at(-1)?.name).toBe('mine');
    }
  });

  it('header and rejection options are valid; presetOptions uses defaultEnvironment', () => {
    for (const preset of all) {
      expect(() => createRejection(preset.rejection)).not.toThrow();
      const options = presetOptions(preset);
      expect(options.policies.environment).toBe(preset.defaultEnvironment);
      expect(options.headers).toBe(preset.headers);
      expect(options.rejection).toBe(preset.rejection);
      expect('clientIp' in options).toBe(preset.clientIp !== undefined);
      expect(presetOptions(preset, { environment: 'production' }).policies.environment).toBe('production');
    }
  });

  it('each example route falls under exactly the policies it lists', async () => {
    for (const preset of all) {
      const enforcer = createEnforcer(presetOptions(preset));
      expect(new Set(preset.routes.flatMap((route) => route.policies))).toEqual(
        new Set(preset.config.policies.map((policy) => policy.name)),
      );
      for (const route of preset.routes) {
        const verdict = await enforcer.decide({
          method: route.method,
          path: route.path,
          headers: { 'x-api-key': 'k' },
          remoteAddress: '203.0.113.9',
          user: 'u',
          account: 'a',
        });
        expect(
          verdict.applied.map((applied) => applied.policy.name),
          `${preset.name}: ${route.method} ${route.path}`,
        ).toEqual(route.policies);
        await verdict.release();
      }
    }
  });
});
