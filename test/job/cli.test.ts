import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runRunCommand } from '../../src/cli/run.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-job-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** `sluice run` in process: exit code, what went to stdout (`print`) and to stderr (`printError`). */
async function run(args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runRunCommand(args, (l) => stdout.push(l), {
    printError: (l) => stderr.push(l),
    handleSignals: false,
    output: { write: () => true, isTTY: false },
  });
  return { code, stdout, stderr: stderr.join('\n') };
}

describe('sluice run: errors', () => {
  it('a usage error goes to stderr, not stdout (through the real CLI)', () => {
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'run', 'x.js', '--concurrency', '0'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(child.status).toBe(2);
    expect(child.stdout).toBe('');
    expect(child.stderr).toMatch(
      /^Expected `--concurrency` to be an integer ≥ 1, got `0`\n\nUsage: sluice run/,
    );
  }, 20_000);

  it('a module that cannot be loaded: exit 2 (bad arguments), as the usage says', async () => {
    const result = await run([join(dir, 'missing.mjs')]);
    expect(result).toMatchObject({ code: 2, stdout: [] });
    expect(result.stderr).toMatch(/^Cannot load the job module .*missing\.mjs: /);
    expect(result.stderr).toContain(
      'bad arguments (a module that cannot be loaded, or whose options are invalid)',
    );
  });

  it('a module whose options are invalid: exit 2 with the option named', async () => {
    const module = join(dir, 'bad.mjs');
    writeFileSync(
      module,
      "export default { name: 'bad', items: [], id: (x) => x, process: async () => {}, concurrency: 0 };\n",
    );
    const result = await run([module, '--checkpoint', join(dir, 'cp.json')]);
    expect(result).toMatchObject({ code: 2, stdout: [] });
    expect(result.stderr).toMatch(/^Expected `concurrency` to be an integer ≥ 1, got `0`/);
  });

  it('an unreachable --redis: says it cannot connect, the password hidden; exit 1', async () => {
    const module = join(dir, 'job.mjs');
    writeFileSync(
      module,
      "export default { name: 'j', items: [], id: (x) => x, process: async () => {} };\n",
    );
    const result = await run([module, '--redis', 'redis://user:secret@127.0.0.1:1']);
    expect(result).toMatchObject({ code: 1, stdout: [] });
    expect(result.stderr).toMatch(/^Cannot connect to redis:\/\/user:\*\*\*@127\.0\.0\.1:1 \(.+\)$/);
    expect(result.stderr).not.toContain('secret');
  }, 20_000);
});
