import { parse as parseYaml } from 'yaml';
import { type Duration, parsePositiveDuration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { fixedWindow, type Limit, slidingWindow, tokenBucket, withId } from '../core/limits.js';
import {
  fail,
  integerAtLeast,
  knownKeys,
  nonEmptyString,
  optionsObject,
  cost as validCost,
} from '../internal/describe.js';
import { compilePath, type PathPattern, type RequestClass } from './match.js';
import type { KeyPart, Policy, PolicyMode, PolicySet } from './types.js';

export type {
  KeyPart,
  LimitConfig,
  PoliciesConfig,
  Policy,
  PolicyConfig,
  PolicyMode,
  PolicySet,
} from './types.js';

const MODES: readonly PolicyMode[] = ['enforce', 'shadow', 'off'];
const CLASSES: readonly RequestClass[] = ['query', 'command'];
const NAMED_PARTS = ['ip', 'apiKey', 'bearer', 'user', 'account'];
const METHOD = /^[A-Za-z]+$/;

/** An array at `path` (a single value is not accepted where a list is expected). */
function list(path: string, value: unknown, nonEmpty = false): readonly unknown[] {
  if (!Array.isArray(value) || (nonEmpty && value.length === 0))
    fail(path, nonEmpty ? 'a non-empty list' : 'a list', value);
  return value;
}

/** Runs a limit factory, re-homing its errors under the configuration path of the limit. */
function limitOf(path: string, value: unknown): Limit {
  const o = optionsObject(path, value);
  const { type, ...options } = o;
  try {
    if (type === 'tokenBucket') return tokenBucket(options as never);
    if (type === 'fixedWindow') return fixedWindow(options as never);
    if (type === 'slidingWindow') return slidingWindow(options as never);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const full = `${path}.${error.path}`;
    throw new ConfigError(full, error.message.replaceAll(`\`${error.path}\``, `\`${full}\``), {
      cause: error,
    });
  }
  return fail(`${path}.type`, '"tokenBucket", "fixedWindow" or "slidingWindow"', type);
}

function keyPartOf(path: string, value: unknown): KeyPart {
  if (typeof value === 'string' && NAMED_PARTS.includes(value)) return value as KeyPart;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === 'header')
      return { header: nonEmptyString(`${path}.header`, o.header).toLowerCase() };
    if (keys.length === 1 && keys[0] === 'param') return { param: nonEmptyString(`${path}.param`, o.param) };
  }
  return fail(
    path,
    '"ip", "apiKey", "bearer", "user", "account", { header: "name" } or { param: "name" }',
    value,
  );
}

function modeOf(path: string, value: unknown): PolicyMode {
  if (!MODES.includes(value as PolicyMode)) fail(path, '"enforce", "shadow" or "off"', value);
  return value as PolicyMode;
}

function policyOf(path: string, value: unknown, environment: string | undefined): Policy {
  const o = optionsObject(path, value);
  knownKeys(path, o, [
    'name',
    'match',
    'key',
    'scope',
    'whenMissing',
    'limits',
    'concurrency',
    'cost',
    'mode',
    'modes',
  ]);
  const name = nonEmptyString(`${path}.name`, o.name);

  let methods: Set<string> | undefined;
  let paths: PathPattern[] | undefined;
  let except: PathPattern[] | undefined;
  let classes: Set<RequestClass> | undefined;
  if (o.match !== undefined) {
    const m = optionsObject(`${path}.match`, o.match);
    knownKeys(`${path}.match`, m, ['methods', 'paths', 'except', 'class']);
    if (m.methods !== undefined) {
      methods = new Set(
        list(`${path}.match.methods`, m.methods, true).map((method, i) => {
          if (typeof method !== 'string' || !METHOD.test(method))
            fail(`${path}.match.methods[${i}]`, 'an HTTP method like "GET"', method);
          return method.toUpperCase();
        }),
      );
    }
    if (m.paths !== undefined) {
      paths = list(`${path}.match.paths`, m.paths, true).map((p, i) =>
        compilePath(p as string, `${path}.match.paths[${i}]`),
      );
    }
    if (m.except !== undefined) {
      except = list(`${path}.match.except`, m.except, true).map((p, i) =>
        compilePath(p as string, `${path}.match.except[${i}]`),
      );
    }
    if (m.class !== undefined) {
      const given = Array.isArray(m.class) ? m.class : [m.class];
      classes = new Set(
        given.map((c, i) => {
          if (!CLASSES.includes(c as RequestClass))
            fail(
              Array.isArray(m.class) ? `${path}.match.class[${i}]` : `${path}.match.class`,
              '"query" or "command"',
              c,
            );
          return c as RequestClass;
        }),
      );
    }
  }

  const keyParts = o.key === undefined ? ['ip'] : Array.isArray(o.key) ? o.key : [o.key];
  if (keyParts.length === 0) fail(`${path}.key`, 'a key part or a non-empty list of them', o.key);
  const key = keyParts.map((part, i) =>
    keyPartOf(Array.isArray(o.key) ? `${path}.key[${i}]` : `${path}.key`, part),
  );

  for (const [i, part] of key.entries()) {
    if (typeof part === 'object' && 'param' in part) {
      const where = Array.isArray(o.key) ? `${path}.key[${i}]` : `${path}.key`;
      if (paths === undefined || !paths.every((pattern) => pattern.params.includes(part.param))) {
        fail(
          `${where}.param`,
          `a parameter that every pattern of \`match.paths\` declares (\`:${part.param}\`)`,
          part.param,
        );
      }
    }
  }
  const whenMissing = o.whenMissing ?? 'share';
  if (whenMissing !== 'share' && whenMissing !== 'skip')
    fail(`${path}.whenMissing`, '"share" or "skip"', whenMissing);

  const scope = o.scope ?? 'shared';
  if (scope !== 'shared' && scope !== 'endpoint') fail(`${path}.scope`, '"shared" or "endpoint"', scope);

  const limits =
    o.limits === undefined
      ? []
      : list(`${path}.limits`, o.limits).map((l, i) => limitOf(`${path}.limits[${i}]`, l));
  const names = new Set<string>();
  const scoped = limits.map((limit, i) => {
    if (names.has(limit.name))
      throw new ConfigError(
        `${path}.limits[${i}].name`,
        `Two limits of policy \`${name}\` are named \`${limit.name}\`; give each a distinct \`name\``,
      );
    names.add(limit.name);
    return withId(limit, `policy:${name.replaceAll('%', '%25').replaceAll(':', '%3A')}:${limit.name}`);
  });

  let concurrency: Policy['concurrency'];
  if (o.concurrency !== undefined) {
    const c = optionsObject(`${path}.concurrency`, o.concurrency);
    knownKeys(`${path}.concurrency`, c, ['max', 'ttl']);
    concurrency = {
      max: integerAtLeast(`${path}.concurrency.max`, c.max, 1),
      ttlMs: parsePositiveDuration((c.ttl ?? '1m') as Duration, `${path}.concurrency.ttl`),
    };
  }
  if (scoped.length === 0 && concurrency === undefined) {
    throw new ConfigError(
      `${path}.limits`,
      `Policy \`${name}\` has no \`limits\` and no \`concurrency\`: it would limit nothing`,
    );
  }

  let cost = 1;
  if (o.cost !== undefined) {
    try {
      cost = validCost(o.cost);
    } catch {
      fail(`${path}.cost`, 'a finite number ≥ 0', o.cost);
    }
  }

  let mode = o.mode === undefined ? 'enforce' : modeOf(`${path}.mode`, o.mode);
  if (o.modes !== undefined) {
    const modes = optionsObject(`${path}.modes`, o.modes);
    for (const [env, m] of Object.entries(modes)) modeOf(`${path}.modes.${env}`, m);
    if (environment !== undefined && modes[environment] !== undefined)
      mode = modes[environment] as PolicyMode;
  }

  return {
    name,
    methods,
    paths,
    except,
    classes,
    key,
    scope,
    whenMissing,
    limits: scoped,
    concurrency,
    cost,
    mode,
  };
}

/**
 * Validates a configuration. Every error names the path at fault and what was expected, e.g.
 * ``Expected `policies[2].limits[0].window` to be a duration like "250ms", "10s" …, got `"ten"` (string)``.
 * `environment` overrides the configuration's own.
 *
 * @example
 * ```ts
 * const { policies } = parsePolicies({ policies: [{ name: 'sales-data', limits: [{ type: 'fixedWindow', limit: 50, window: '10s' }] }] });
 * ```
 */
export function parsePolicies(config: unknown, environment?: string): PolicySet {
  const o = optionsObject('config', config);
  knownKeys('config', o, ['environment', 'policies', '$schema']);
  const env =
    environment ?? (o.environment === undefined ? undefined : nonEmptyString('environment', o.environment));
  const policies = list('policies', o.policies).map((p, i) => policyOf(`policies[${i}]`, p, env));
  const seen = new Map<string, number>();
  for (const [i, policy] of policies.entries()) {
    const first = seen.get(policy.name);
    if (first !== undefined) {
      throw new ConfigError(
        `policies[${i}].name`,
        `Policies ${first} and ${i} are both named \`${policy.name}\`; names must be unique`,
      );
    }
    seen.set(policy.name, i);
  }
  return { environment: env, policies };
}

/**
 * Parses and validates a configuration written in YAML or JSON (JSON is YAML, so either works; `format`
 * only sharpens the syntax error).
 *
 * @example
 * ```ts
 * const set = loadPolicies(readFileSync('sluice.yaml', 'utf8'));
 * ```
 */
export function loadPolicies(
  text: string,
  options: { format?: 'yaml' | 'json'; environment?: string } = {},
): PolicySet {
  let config: unknown;
  try {
    config = options.format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(
      'config',
      `The configuration is not valid ${options.format === 'json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return parsePolicies(config, options.environment);
}
