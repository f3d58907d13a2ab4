#!/usr/bin/env node
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runKeysCommand } from '../keys/index.js';
import { runDemo } from './demo.js';
import { runCheckCommand, runGatewayCommand, runMockCommand } from './gateway.js';
import { runRunCommand } from './run.js';

const HELP = `Usage: sluice <command> [options]

Commands:
  gateway --config FILE [--redis URL] [--port N] [--upstream URL] [--demo-upstream] [--env NAME]
                                        run the gateway: enforce the config's policies in front of an upstream
  check --config FILE [--env NAME]      validate a gateway configuration without starting anything
  mock --preset NAME [--port N] [--env NAME]
                                        a local stand-in of a reference API (gateway + fake upstream)
  keys create|list|revoke --account A [--file PATH | --redis URL] …
                                        manage the gateway's API keys
  run <module> [--name N] [--checkpoint FILE] [--lock FILE] [--redis URL] [--concurrency N]
                                        run a resumable batch job (checkpoint, lock, progress)
  demo [--requests N] [--interval MS]   run a short demo of the core limiter on the real clock

Options:
  -h, --help      show this help
  -v, --version   show the version
`;

/**
 * The `sluice` command line. Thin: it parses arguments and calls the library.
 *
 * @returns the process exit code
 * @example
 * ```ts
 * process.exitCode = await main(['demo', '--requests', '10']);
 * ```
 */
export async function main(
  argv: readonly string[],
  print: (line: string) => void = console.log,
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    print(HELP);
    return command === undefined ? 1 : 0;
  }
  if (command === '-v' || command === '--version') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    print(pkg.version);
    return 0;
  }
  if (command === 'gateway') return runGatewayCommand(rest, print);
  if (command === 'check') return runCheckCommand(rest, print);
  if (command === 'mock') return runMockCommand(rest, print);
  if (command === 'keys') return runKeysCommand(rest, print);
  if (command === 'run') return runRunCommand(rest, print);
  if (command === 'demo') {
    const flags = parseFlags(rest, ['requests', 'interval']);
    if (typeof flags === 'string') {
      print(flags);
      return 2;
    }
    await runDemo({ print, ...flags });
    return 0;
  }
  print(`Unknown command \`${command}\`.\n\n${HELP}`);
  return 2;
}

function parseFlags(
  args: readonly string[],
  known: readonly string[],
): { requests?: number; intervalMs?: number } | string {
  const out: { requests?: number; intervalMs?: number } = {};
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i]?.replace(/^--/, '');
    const value = Number(args[i + 1]);
    if (name === undefined || !known.includes(name))
      return `Unknown option \`${args[i]}\`; expected --requests or --interval`;
    if (!Number.isInteger(value) || value < 1)
      return `Expected \`--${name}\` to be an integer ≥ 1, got \`${args[i + 1]}\``;
    if (name === 'requests') out.requests = value;
    else out.intervalMs = value;
  }
  return out;
}

/**
 * Whether this module is the program being run: `node dist/cli/main.js`, or the `sluice` command, which
 * npm installs as a link (so `argv[1]` is the link's path: compare real paths).
 */
function isMain(argv1: string | undefined): boolean {
  if (argv1 === undefined) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
