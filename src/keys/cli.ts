import { SluiceError } from '../core/errors.js';
import type { RedisSend } from '../store/redis/client.js';
import { type KeysArgs, parseKeysArgs } from './cli-args.js';
import { createKeyRegistry } from './registry.js';
import type { KeyInfo, KeyRegistry } from './types.js';

const USAGE = `Usage: sluice keys <create|list|revoke> --account A [options]

  create  --account A [--user U] [--label L] [--max N]   make a key; its secret is printed once
  list    --account A                                    the account's keys, without secrets
  revoke  --account A --id ID                            revoke a key (frees a slot)

Store (exactly one):
  --file PATH                  a JSON registry file
  --redis redis://host:port    a Redis server (needs ioredis); --prefix P sets the key namespace

Keys are hashed with HMAC-SHA-256 when SLUICE_KEYS_SECRET is set, with SHA-256 otherwise.`;

/**
 * Options of {@link runKeysCommand}, for embedding and tests.
 *
 * @example
 * ```ts
 * await runKeysCommand(['list', '--account', 'acme', '--file', 'keys.json'], console.log, { env: {} });
 * ```
 */
export interface KeysCommandOptions {
  /** Where `SLUICE_KEYS_SECRET` (the registry's HMAC `secret`) is read. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * `sluice keys create|list|revoke`: the API-key registry from the command line.
 *
 * @param args - the words after `sluice keys`
 * @param print - where output lines go
 * @returns the exit code: 0 done, 1 refused or failed (limit reached, unknown key, store error), 2 bad arguments
 * @example
 * ```ts
 * // sluice keys create --account acme --label ci --file keys.json --max 6
 * process.exitCode = await runKeysCommand(process.argv.slice(3), console.log);
 * ```
 */
export async function runKeysCommand(
  args: readonly string[],
  print: (line: string) => void,
  options: KeysCommandOptions = {},
): Promise<number> {
  if (args[0] === undefined || args[0] === '-h' || args[0] === '--help' || args[0] === 'help') {
    print(USAGE);
    return args[0] === undefined ? 2 : 0;
  }
  const parsed = parseKeysArgs(args);
  if (typeof parsed === 'string') {
    print(parsed);
    return 2;
  }
  const secret = (options.env ?? process.env).SLUICE_KEYS_SECRET || undefined;
  let redis: { send: RedisSend; close(): void } | undefined;
  try {
    if (parsed.redis !== undefined) {
      const connected = await connectRedis(parsed.redis);
      if (typeof connected === 'string') {
        print(connected);
        return 1;
      }
      redis = connected;
    }
    const registry = createKeyRegistry({
      ...(redis === undefined ? { file: parsed.file! } : { redis: redis.send }),
      ...(parsed.prefix !== undefined && { prefix: parsed.prefix }),
      ...(parsed.max !== undefined && { maxActivePerAccount: parsed.max }),
      ...(secret !== undefined && { secret }),
    });
    return await perform(registry, parsed, print);
  } catch (error) {
    if (!(error instanceof SluiceError)) throw error;
    print(error.message);
    return 1;
  } finally {
    redis?.close();
  }
}

async function perform(
  registry: KeyRegistry,
  args: KeysArgs,
  print: (line: string) => void,
): Promise<number> {
  const { account } = args;
  if (args.action === 'create') {
    const created = await registry.create({
      account,
      ...(args.user !== undefined && { user: args.user }),
      ...(args.label !== undefined && { label: args.label }),
    });
    const label = created.label === undefined ? '' : `, label ${JSON.stringify(created.label)}`;
    print(`Created API key ${created.id} for account ${account} (user ${created.user}${label}).`);
    print(created.key);
    print('Store this secret now: it is shown once and cannot be shown again.');
    return 0;
  }
  if (args.action === 'list') {
    const keys = await registry.list({ account });
    if (keys.length === 0) print(`No API keys for account ${account}.`);
    for (const key of keys) print(lineOf(key));
    return 0;
  }
  const id = args.id!;
  if (await registry.revoke({ account, id })) {
    print(`Revoked API key ${id} of account ${account}.`);
    return 0;
  }
  print(`No active API key ${id} in account ${account} (see \`sluice keys list --account ${account}\`).`);
  return 1;
}

/** One key, one line: `key_…  active   user=…  created=…  hash=…  label="…"`. */
function lineOf(key: KeyInfo): string {
  const status = key.revokedAt === undefined ? 'active ' : 'revoked';
  const parts = [key.id, status, `user=${key.user}`, `created=${new Date(key.createdAt).toISOString()}`];
  if (key.revokedAt !== undefined) parts.push(`revoked=${new Date(key.revokedAt).toISOString()}`);
  parts.push(`hash=${key.hashPrefix}`);
  if (key.label !== undefined) parts.push(`label=${JSON.stringify(key.label)}`);
  return parts.join('  ');
}

/**
 * Connects to Redis with ioredis, imported only now: it is not a dependency of sluice, so a missing one is a
 * message, not a crash. A string is the message of a failure (with any password in the URL hidden).
 */
async function connectRedis(url: string): Promise<{ send: RedisSend; close(): void } | string> {
  let Redis: typeof import('ioredis').Redis;
  try {
    const module = await import('ioredis');
    Redis = module.Redis ?? module.default;
  } catch {
    return '`--redis` needs the ioredis package, which is not installed: run `npm install ioredis`, or use --file';
  }
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    return `Could not connect to ${redacted(url)} (\`--redis\`): ${(error as Error).message}`;
  }
  return {
    send: (args) => client.call(args[0]!, ...args.slice(1)),
    close: () => client.disconnect(),
  };
}

function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.href;
  } catch {
    return '(the --redis URL)';
  }
}
