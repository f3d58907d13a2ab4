import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.js';
import {
  type GatewayConfig,
  loadGatewayConfig,
  parseGatewayConfig,
  requireCallers,
} from '../gateway/config.js';
import { startDemoUpstream } from '../gateway/demo-upstream.js';
import { type RunningGateway, runGateway } from '../gateway/run.js';
import { keyedHash } from '../internal/hash.js';
import { presetOf } from '../presets/index.js';

type Flags = Record<string, string | boolean | undefined>;

/** Parses `args` against the named flags (strings, or booleans); a string is the message for a bad argument. */
function flags(args: readonly string[], names: Record<string, 'string' | 'boolean'>): Flags | string {
  const options = Object.fromEntries(Object.entries(names).map(([name, type]) => [name, { type }]));
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values as Flags;
  } catch (error) {
    return (error as Error).message;
  }
}

const port = (value: string | undefined, name: string): number | string | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 65_535
    ? n
    : `Expected \`--${name}\` to be a port (0–65535), got \`${value}\``;
};

/** A configuration with the command line's overrides applied. */
function withOverrides(
  config: GatewayConfig,
  over: { redis?: string | undefined; port?: number | undefined; upstream?: string | undefined },
): GatewayConfig {
  const store: GatewayConfig['store'] =
    over.redis === undefined
      ? config.store
      : { type: 'redis', url: over.redis, prefix: 'sluice', failureMode: 'fallback', timeoutMs: 50 };
  return {
    ...config,
    store,
    listen: over.port === undefined ? config.listen : { ...config.listen, port: over.port },
    upstream: over.upstream === undefined ? config.upstream : { ...config.upstream, url: over.upstream },
  };
}

/** Waits for SIGINT or SIGTERM, then closes the gateway gracefully. */
function untilSignal(gateway: RunningGateway, print: (line: string) => void, extra?: () => Promise<void>) {
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      print(`${signal}: finishing the requests in flight, then stopping.`);
      void gateway
        .close()
        .then(() => extra?.())
        .then(() => resolve(0));
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

const banner = ({ gateway, adminUrl }: RunningGateway, upstream: string) =>
  [
    `sluice gateway on ${gateway.url} → ${upstream} (store: ${gateway.config().store.type})`,
    ...(adminUrl === undefined
      ? []
      : [`  admin: ${adminUrl}/healthz, ${adminUrl}/readyz, ${adminUrl}/metrics`]),
    `  try: curl -i ${gateway.url}/items`,
    `       for i in $(seq 1 15); do curl -s -o /dev/null -w '%{http_code} ' ${gateway.url}/items; done; echo`,
    '  Ctrl-C stops it gracefully.',
  ].join('\n');

/**
 * `sluice gateway --config FILE [--redis URL] [--port N] [--upstream URL] [--demo-upstream] [--env NAME]`.
 *
 * @example
 * ```ts
 * process.exitCode = await runGatewayCommand(['--config', 'sluice.yaml'], console.log);
 * ```
 */
export async function runGatewayCommand(
  args: readonly string[],
  print: (line: string) => void,
): Promise<number> {
  const f = flags(args, {
    config: 'string',
    redis: 'string',
    port: 'string',
    upstream: 'string',
    'demo-upstream': 'boolean',
    env: 'string',
  });
  if (typeof f === 'string') return usage(print, f);
  if (typeof f.config !== 'string') return usage(print, 'Missing `--config FILE`');
  const listen = port(f.port as string | undefined, 'port');
  if (typeof listen === 'string') return usage(print, listen);
  const path = f.config;
  const environment = f.env as string | undefined;
  let config: GatewayConfig;
  try {
    config = loadGatewayConfig(readFileSync(path, 'utf8'), environment);
  } catch (error) {
    print(`${path}: ${(error as Error).message}`);
    return 1;
  }
  const demo = f['demo-upstream'] === true ? await startDemoUpstream() : undefined;
  config = withOverrides(config, {
    redis: f.redis as string | undefined,
    port: listen,
    upstream: demo?.url ?? (f.upstream as string | undefined),
  });
  const gateway = await runGateway({
    config,
    configPath: path,
    ...(environment === undefined ? {} : { environment }),
  });
  print(banner(gateway, demo === undefined ? config.upstream.url : `the demo upstream (${demo.url})`));
  return untilSignal(gateway, print, demo?.close);
}

/**
 * `sluice check --config FILE [--env NAME]`: validates a configuration without starting anything.
 *
 * @example
 * ```ts
 * process.exitCode = await runCheckCommand(['--config', 'sluice.yaml'], console.log);
 * ```
 */
export async function runCheckCommand(
  args: readonly string[],
  print: (line: string) => void,
): Promise<number> {
  const f = flags(args, { config: 'string', env: 'string' });
  if (typeof f === 'string') return usage(print, f);
  if (typeof f.config !== 'string') return usage(print, 'Missing `--config FILE`');
  try {
    const config = loadGatewayConfig(readFileSync(f.config, 'utf8'), f.env as string | undefined);
    requireCallers(config, false);
    const names = config.policies.policies.map((p) => `${p.name} (${p.mode})`).join(', ');
    print(`${f.config}: OK — ${config.policies.policies.length} policies: ${names}`);
    return 0;
  } catch (error) {
    const where = error instanceof ConfigError ? '' : ' (could not read it)';
    print(`${f.config}${where}: ${(error as Error).message}`);
    return 1;
  }
}

/**
 * `sluice mock --preset NAME [--port N] [--env NAME]`: a local stand-in of a reference API — the gateway with
 * the preset's limits in front of a fake upstream answering every route.
 *
 * @example
 * ```ts
 * process.exitCode = await runMockCommand(['--preset', 'merchant-api'], console.log);
 * ```
 */
export async function runMockCommand(
  args: readonly string[],
  print: (line: string) => void,
): Promise<number> {
  const f = flags(args, { preset: 'string', port: 'string', env: 'string' });
  if (typeof f === 'string') return usage(print, f);
  if (typeof f.preset !== 'string') return usage(print, 'Missing `--preset NAME`');
  const listen = port(f.port as string | undefined, 'port');
  if (typeof listen === 'string') return usage(print, listen);
  let config: GatewayConfig;
  try {
    const preset = presetOf(f.preset);
    config = parseGatewayConfig(
      {
        preset: preset.name,
        listen: { port: listen ?? 8080 },
        upstream: { url: 'http://127.0.0.1:1' },
        ...(f.env === undefined ? {} : { environment: f.env }),
      },
      f.env as string | undefined,
    );
  } catch (error) {
    print((error as Error).message);
    return 2;
  }
  const upstream = await startDemoUpstream();
  const byCaller = config.policies.policies.some((p) => p.key.includes('user') || p.key.includes('account'));
  const gateway = await runGateway({
    config: withOverrides(config, { upstream: upstream.url }),
    ...(byCaller ? { authenticate: mockCaller } : {}),
  });
  print(banner(gateway, `a fake ${config.preset} upstream`));
  if (byCaller)
    print(
      '  This API limits per caller: send any `X-API-Key: <anything>` (each key is its own API user and account); without one: 401.',
    );
  return untilSignal(gateway, print, upstream.close);
}

function usage(print: (line: string) => void, message: string): number {
  print(`${message}. See \`sluice --help\`.`);
  return 2;
}

/** The mock's callers: any API key is accepted and is its own API user and account (hashed, never logged raw). */
function mockCaller(req: IncomingMessage): { user: string; account: string } | undefined {
  const key = req.headers['x-api-key'];
  if (typeof key !== 'string' || key === '') return undefined;
  const id = keyedHash(undefined)(key).slice(0, 16);
  return { user: id, account: id };
}
