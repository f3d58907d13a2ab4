import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort, type RedisServer, redisAvailable, startRedisServer } from '../../test/redis/harness.js';
import { createKeyRegistry, runKeysCommand } from './index.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-keys-cli-'));
  file = join(dir, 'keys.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the command; returns its exit code and printed lines. */
async function run(args: string[], env: Record<string, string> = {}) {
  const lines: string[] = [];
  const code = await runKeysCommand(args, (line) => lines.push(line), { env });
  return { code, lines, out: lines.join('\n') };
}

describe('sluice keys, file store', () => {
  it('create prints the id, the secret once and a warning that it cannot be shown again', async () => {
    const { code, lines } = await run([
      'create',
      '--account',
      'acme',
      '--label',
      'order import',
      '--file',
      file,
    ]);
    expect(code).toBe(0);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^Created API key (key_[\w-]{12}) for account acme \(user \1, label "order import"\)\.$/,
    );
    expect(lines[1]).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
    expect(lines[2]).toBe('Store this secret now: it is shown once and cannot be shown again.');
    expect(await createKeyRegistry({ file }).authenticate(lines[1]!)).toMatchObject({ account: 'acme' });
    expect(readFileSync(file, 'utf8')).not.toContain(lines[1]!);
  });

  it('list prints one readable line per key, never a secret', async () => {
    const first = await run(['create', '--account=acme', '--user=rating', `--file=${file}`]);
    await run(['create', '--account', 'acme', '--label', 'ci', '--file', file]);
    const id = /key_[\w-]{12}/.exec(first.lines[0]!)![0];
    expect((await run(['revoke', '--account', 'acme', '--id', id, '--file', file])).code).toBe(0);
    const { code, lines } = await run(['list', '--account', 'acme', '--file', file]);
    expect(code).toBe(0);
    expect(lines).toHaveLength(2);
    const iso = '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';
    expect(lines[0]).toMatch(
      new RegExp(`^${id}  revoked  user=rating  created=${iso}  revoked=${iso}  hash=[\\w-]{8}$`),
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^key_[\\w-]{12}  active   user=key_[\\w-]{12}  created=${iso}  hash=[\\w-]{8}  label="ci"$`,
      ),
    );
    expect(lines.join('\n')).not.toContain('sk_');
    expect((await run(['list', '--account', 'nobody', '--file', file])).out).toBe(
      'No API keys for account nobody.',
    );
  });

  it('revoke: exit 0 when revoked, 1 with a message when there is no such active key', async () => {
    const created = await run(['create', '--account', 'acme', '--file', file]);
    const id = /key_[\w-]{12}/.exec(created.lines[0]!)![0];
    expect(await run(['revoke', '--account', 'acme', '--id', id, '--file', file])).toMatchObject({
      code: 0,
      out: `Revoked API key ${id} of account acme.`,
    });
    expect(await run(['revoke', '--account', 'acme', '--id', id, '--file', file])).toMatchObject({
      code: 1,
      out: `No active API key ${id} in account acme (see \`sluice keys list --account acme\`).`,
    });
  });

  it('--max: the create past it fails with exit 1 and the Merchant API message', async () => {
    for (let i = 0; i < 6; i++)
      expect((await run(['create', '--account', 'acme', '--file', file, '--max', '6'])).code).toBe(0);
    expect(await run(['create', '--account', 'acme', '--file', file, '--max', '6'])).toMatchObject({
      code: 1,
      out: 'You’ve reached your limit of 6 API keys. Please delete any unused API keys and try again.',
    });
  });

  it('uses SLUICE_KEYS_SECRET as the HMAC secret, and says so when it is missing', async () => {
    const { lines } = await run(['create', '--account', 'acme', '--file', file], {
      SLUICE_KEYS_SECRET: 'pepper',
    });
    expect(await createKeyRegistry({ file, secret: 'pepper' }).authenticate(lines[1]!)).toBeDefined();
    const { code, out } = await run(['list', '--account', 'acme', '--file', file]);
    expect(code).toBe(1);
    expect(out).toContain('holds hmac-sha256 hashes but the registry was given no `secret`');
  });

  it('prints usage for --help (exit 0) and for no arguments (exit 2)', async () => {
    expect(await run(['--help'])).toMatchObject({
      code: 0,
      out: expect.stringContaining('Usage: sluice keys'),
    });
    expect(await run([])).toMatchObject({ code: 2, out: expect.stringContaining('Usage: sluice keys') });
  });

  it.each([
    [['rotate'], 'Expected a command `create`, `list` or `revoke` after `sluice keys`, got `rotate`'],
    [['create', '--file', 'k.json'], 'Missing `--account`: `sluice keys create` needs it'],
    [['create', '--account', 'a'], 'Expected exactly one of `--file PATH` and `--redis redis://host:port`'],
    [
      ['list', '--account', 'a', '--file', 'k', '--redis', 'redis://x'],
      'Expected exactly one of `--file PATH` and `--redis redis://host:port`',
    ],
    [
      ['create', '--account', 'a', '--file', 'k', '--max', '0'],
      'Expected `--max` to be an integer ≥ 1, got `0`',
    ],
    [
      ['create', '--account', 'a', '--file', 'k', '--max', '2.5'],
      'Expected `--max` to be an integer ≥ 1, got `2.5`',
    ],
    [
      ['create', '--account', 'a', '--file', 'k', '--id', 'x'],
      'Unknown option `--id` for `sluice keys create`; expected one of --account, --file, --redis, --prefix, --user, --label, --max',
    ],
    [
      ['list', '--account', 'a', '--file', 'k', '--max', '6'],
      'Unknown option `--max` for `sluice keys list`; expected one of --account, --file, --redis, --prefix',
    ],
    [
      ['revoke', '--account', 'a', '--file', 'k'],
      'Missing `--id`: `sluice keys revoke` needs the id of the key (see `sluice keys list`)',
    ],
    [['create', '--account'], 'Expected a value after `--account`, got nothing'],
    [['create', '--account', '--file', 'k'], 'Expected a value after `--account`, got nothing'],
    [['create', '--account=', '--file', 'k'], 'Expected `--account` to be a non-empty value, got ``'],
    [
      ['create', '--account', 'a', '--account', 'b', '--file', 'k'],
      '`--account` is given twice; give it once',
    ],
    [['create', 'acme'], 'Unexpected argument `acme` to `sluice keys create`; flags start with --'],
    [
      ['list', '--account', 'a', '--redis', 'localhost:6379'],
      'Expected `--redis` to be a URL redis://host:port (or rediss://), got `localhost:6379`',
    ],
    [['list', '--account', 'a', '--file', 'k', '--prefix', 'p'], '`--prefix` applies to `--redis` only'],
  ])('bad arguments %j: exit 2, one line naming the flag', async (args, message) => {
    expect(await run(args)).toEqual({ code: 2, lines: [message], out: message });
  });
});

describe.runIf(redisAvailable())('sluice keys, Redis store', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('creates, lists and revokes through --redis, with --prefix', async () => {
    const base = ['--account', 'acme', '--redis', server.url, '--prefix', 'cli'];
    const created = await run(['create', ...base, '--max', '1']);
    expect(created.code).toBe(0);
    const id = /key_[\w-]{12}/.exec(created.lines[0]!)![0];
    expect(await run(['create', ...base, '--max', '1'])).toMatchObject({
      code: 1,
      out: expect.stringContaining('limit of 1 API keys'),
    });
    expect((await run(['list', ...base])).lines).toEqual([
      expect.stringMatching(new RegExp(`^${id}  active `)),
    ]);
    expect((await run(['revoke', ...base, '--id', id])).code).toBe(0);
    expect((await run(['list', ...base])).lines).toEqual([
      expect.stringMatching(new RegExp(`^${id}  revoked `)),
    ]);
  });

  it('exits 1 with a message (password hidden) when Redis cannot be reached', async () => {
    const port = await freePort();
    const { code, out } = await run([
      'list',
      '--account',
      'a',
      '--redis',
      `redis://:hunter2@127.0.0.1:${port}`,
    ]);
    expect(code).toBe(1);
    expect(out).toMatch(
      new RegExp(`^Could not connect to redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} \\(\`--redis\`\\): `),
    );
    expect(out).not.toContain('hunter2');
  });
});
