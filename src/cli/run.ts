import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../core/errors.js';
import { JobLockedError } from '../job/errors.js';
import { runJob } from '../job/run-job.js';
import type { JobOptions, JobOutput } from '../job/types.js';

const USAGE = `Usage: sluice run <module> [--name N] [--checkpoint FILE] [--lock FILE] [--redis URL] [--concurrency N]

  <module>            a job module: its default export is runJob options, or a function returning them
  --name N            the job's name (lock, checkpoint, logs)
  --checkpoint FILE   the checkpoint file            (default: <name>.checkpoint.json, or Redis with --redis)
  --lock FILE         the lock file                  (default: <checkpoint>.lock, or Redis with --redis)
  --redis URL         keep the checkpoint and the lock in Redis (keys sluice:job:<name>[:lock]; needs ioredis)
  --concurrency N     items processed at once

Exit codes: 0 completed, 1 failed or aborted (or an I/O error: Redis unreachable, checkpoint unreadable),
2 already running (locked) or bad arguments (a module that cannot be loaded, or whose options are invalid).`;

const FLAGS = ['name', 'checkpoint', 'lock', 'redis', 'concurrency'] as const;
type Flags = Partial<Record<(typeof FLAGS)[number], string>>;

/** Parses the arguments; a string is a usage error. */
function parse(args: readonly string[]): { module: string; flags: Flags } | string {
  let module: string | undefined;
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    const match = /^--([a-z]+)(?:=(.*))?$/s.exec(word);
    if (match === null) {
      if (module !== undefined) return `Unexpected argument \`${word}\`: give one job module`;
      module = word;
      continue;
    }
    const name = match[1] as (typeof FLAGS)[number];
    if (!FLAGS.includes(name))
      return `Unknown option \`--${name}\` for \`sluice run\`; expected one of ${FLAGS.map((f) => `--${f}`).join(', ')}`;
    const value = match[2] ?? args[++i];
    if (value === undefined || value === '') return `Expected a value after \`--${name}\`, got nothing`;
    flags[name] = value;
  }
  if (module === undefined) return 'Missing the job module: `sluice run <module>`';
  if (flags.concurrency !== undefined && !/^[1-9]\d*$/.test(flags.concurrency))
    return `Expected \`--concurrency\` to be an integer ≥ 1, got \`${flags.concurrency}\``;
  if (flags.redis !== undefined && !/^rediss?:\/\//.test(flags.redis))
    return `Expected \`--redis\` to be a URL redis://host:port (or rediss://), got \`${flags.redis}\``;
  return { module, flags };
}

/** The module's options, with the command line's flags over them; a string is a usage error. */
async function load(module: string, flags: Flags): Promise<JobOptions<unknown> | string> {
  let imported: { default?: unknown };
  try {
    imported = (await import(pathToFileURL(resolve(module)).href)) as { default?: unknown };
  } catch (error) {
    return `Cannot load the job module ${module}: ${error instanceof Error ? error.message : String(error)}`;
  }
  const exported = imported.default;
  const options = (typeof exported === 'function' ? await exported() : exported) as JobOptions<unknown>;
  if (typeof options !== 'object' || options === null)
    return `The job module ${module} must export default runJob options or a function returning them`;
  // Checked before the name goes into Redis keys (never `sluice:job:undefined`).
  const name: unknown = flags.name ?? options.name;
  if (name === undefined || name === '')
    return `Missing the job's name: give \`--name N\` or a \`name\` in the job module ${module}`;
  if (typeof name !== 'string' || !/^[\w.-]+$/.test(name))
    return `Expected the job's name to be letters, digits, \`.\`, \`_\` and \`-\`, got \`${String(name)}\``;
  const key = `sluice:job:${name}`;
  return {
    ...options,
    name,
    ...(flags.concurrency !== undefined && { concurrency: Number(flags.concurrency) }),
    ...(flags.checkpoint !== undefined
      ? { checkpoint: { file: flags.checkpoint } }
      : flags.redis !== undefined && { checkpoint: { redis: flags.redis, key } }),
    ...(flags.lock !== undefined
      ? { lock: { file: flags.lock } }
      : flags.redis !== undefined && { lock: { redis: flags.redis, key: `${key}:lock` } }),
  };
}

/** Messages of `error` and its causes. */
function messagesOf(error: unknown): string[] {
  const messages: string[] = [];
  for (let e = error, depth = 0; e !== undefined && depth < 5; depth++) {
    messages.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return messages;
}

/** What ioredis (offline queue off) and the socket say when Redis cannot be reached. */
const UNREACHABLE =
  /Stream isn't writeable|Connection is closed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH/;

/** The message for a run that rejected: an unreachable Redis is said as such, its URL without a password. */
function failureMessage(error: unknown, redis: string | undefined): string {
  const messages = messagesOf(error);
  const cause = messages.find((m) => UNREACHABLE.test(m));
  if (redis === undefined || cause === undefined) return messages[0] ?? 'unknown error';
  return `Cannot connect to ${redis.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')} (${cause})`;
}

/**
 * `sluice run <module>`: imports a job module and runs it with {@link runJob}, stopping cleanly (releasing
 * the lock, keeping the checkpoint) on SIGINT or SIGTERM. `print` gets `--help` only; errors and usage
 * messages go to `io.printError` (default: stderr, like the progress).
 *
 * @returns the exit code: 0 completed, 1 failed, aborted or an I/O error, 2 locked by another run or bad
 *   arguments (usage, a module that cannot be loaded, invalid options)
 * @example
 * ```ts
 * process.exitCode = await runRunCommand(['jobs/sync-orders.js', '--checkpoint', 'state/sync.json'], console.log);
 * ```
 */
export async function runRunCommand(
  args: readonly string[],
  print: (line: string) => void,
  io: {
    readonly output?: JobOutput;
    readonly handleSignals?: boolean;
    readonly printError?: (line: string) => void;
  } = {},
): Promise<number> {
  const printError = io.printError ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (args[0] === '--help' || args[0] === '-h') {
    print(USAGE);
    return 0;
  }
  const parsed = parse(args);
  if (typeof parsed === 'string') {
    printError(`${parsed}\n\n${USAGE}`);
    return 2;
  }
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(new Error(`received ${signal}`));
  if (io.handleSignals !== false) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    const options = await load(parsed.module, parsed.flags);
    if (typeof options === 'string') {
      printError(`${options}\n\n${USAGE}`);
      return 2;
    }
    const signal =
      options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
    const summary = await runJob({
      ...options,
      signal,
      ...(io.output !== undefined && { output: io.output }),
    });
    return summary.state === 'completed' ? 0 : 1;
  } catch (error) {
    printError(failureMessage(error, parsed.flags.redis));
    return error instanceof JobLockedError || error instanceof ConfigError ? 2 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
