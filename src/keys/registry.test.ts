import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../core/clock.js';
import { ConfigError, StoreError } from '../core/errors.js';
import { createKeyRegistry, KeyLimitError, type KeyRegistry, merchantApiKeys } from './index.js';

const SEED_MESSAGE =
  'You’ve reached your limit of 6 API keys. Please delete any unused API keys and try again.';
const T0 = 1_700_000_000_000;

let dir: string;
let file: string;
let clock: ManualClock;
const open = (extra: Record<string, unknown> = {}): KeyRegistry =>
  createKeyRegistry({ file, clock: clock.now, ...merchantApiKeys, ...extra });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'));
  file = join(dir, 'keys.json');
  clock = createManualClock(T0);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('file key registry: create, list, revoke, authenticate', () => {
  it('creates sk_ keys (32 random bytes), each its own API user unless told', async () => {
    const registry = open();
    const a = await registry.create({ account: 'acme' });
    expect(a).toEqual({
      id: expect.stringMatching(/^key_[\w-]{12}$/),
      key: expect.any(String),
      account: 'acme',
      user: a.id,
      createdAt: T0,
    });
    expect(a.key).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.key.slice(3), 'base64url')).toHaveLength(32);
    const b = await registry.create({ account: 'acme', user: 'rating', label: 'rating service' });
    expect(b).toMatchObject({ user: 'rating', label: 'rating service' });
    expect(b.key).not.toBe(a.key);
    expect(await registry.authenticate(a.key)).toEqual({ id: a.id, account: 'acme', user: a.id });
    expect(await registry.authenticate(b.key)).toEqual({ id: b.id, account: 'acme', user: 'rating' });
  });

  it('authenticates only well-formed, known, active keys', async () => {
    const registry = open();
    const { key } = await registry.create({ account: 'acme' });
    expect(
      await registry.authenticate(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`),
    ).toBeUndefined();
    for (const bad of ['', 'sk_', key.slice(3), `${key}x`, 'x'.repeat(100_000)])
      expect(await registry.authenticate(bad)).toBeUndefined();
    expect(await registry.authenticate(undefined as unknown as string)).toBeUndefined();
  });

  it('lists active and revoked keys, oldest first, without secrets or hashes', async () => {
    const registry = open();
    const a = await registry.create({ account: 'acme', label: 'ci' });
    clock.advance(1000);
    const b = await registry.create({ account: 'acme' });
    await registry.create({ account: 'other' });
    clock.advance(1000);
    expect(await registry.revoke({ account: 'acme', id: a.id })).toBe(true);
    const listed = await registry.list({ account: 'acme' });
    expect(listed).toEqual([
      {
        id: a.id,
        account: 'acme',
        user: a.id,
        label: 'ci',
        createdAt: T0,
        revokedAt: T0 + 2000,
        hashPrefix: expect.any(String),
      },
      { id: b.id, account: 'acme', user: b.id, createdAt: T0 + 1000, hashPrefix: expect.any(String) },
    ]);
    for (const info of listed) {
      expect(info.hashPrefix).toMatch(/^[\w-]{8}$/);
      expect(JSON.stringify(info)).not.toContain('sk_');
      expect(Object.keys(info)).not.toContain('hash');
    }
    expect(await registry.list({ account: 'nobody' })).toEqual([]);
  });

  it('revokes once, only within the account; a revoked key no longer authenticates', async () => {
    const registry = open();
    const a = await registry.create({ account: 'acme' });
    expect(await registry.revoke({ account: 'other', id: a.id })).toBe(false);
    expect(await registry.revoke({ account: 'acme', id: 'key_unknown' })).toBe(false);
    expect(await registry.authenticate(a.key)).toBeDefined();
    expect(await registry.revoke({ account: 'acme', id: a.id })).toBe(true);
    expect(await registry.revoke({ account: 'acme', id: a.id })).toBe(false);
    expect(await registry.authenticate(a.key)).toBeUndefined();
  });

  it('refuses the 7th active key with the Merchant API message; revoking frees a slot', async () => {
    const registry = open();
    const made = [];
    for (let i = 0; i < 6; i++) made.push(await registry.create({ account: 'acme' }));
    const error = await registry.create({ account: 'acme' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyLimitError);
    expect(error).toMatchObject({
      code: 'ERR_SLUICE_KEY_LIMIT',
      account: 'acme',
      limit: 6,
      message: SEED_MESSAGE,
    });
    await expect(registry.create({ account: 'other' })).resolves.toBeDefined();
    expect(await registry.revoke({ account: 'acme', id: made[2]!.id })).toBe(true);
    const seventh = await registry.create({ account: 'acme' });
    expect(await registry.authenticate(seventh.key)).toBeDefined();
    await expect(registry.create({ account: 'acme' })).rejects.toThrow(SEED_MESSAGE);
    expect((await registry.list({ account: 'acme' })).filter((k) => k.revokedAt === undefined)).toHaveLength(
      6,
    );
  });

  it('has no maximum by default, and takes its own limit message', async () => {
    const unlimited = createKeyRegistry({ file, clock: clock.now });
    for (let i = 0; i < 10; i++) await unlimited.create({ account: 'acme' });
    const strict = open({ maxActivePerAccount: 10, limitMessage: (n: number) => `max ${n} keys` });
    await expect(strict.create({ account: 'acme' })).rejects.toThrow(/^max 10 keys$/);
  });

  it('writes hashes, never raw keys, to a 0600 file, and leaves no temporary or lock file', async () => {
    const registry = open();
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push((await registry.create({ account: 'acme', label: `k${i}` })).key);
    await registry.revoke({ account: 'acme', id: (await registry.list({ account: 'acme' }))[0]!.id });
    const text = readFileSync(file, 'utf8');
    for (const key of keys) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(key.slice(3));
    }
    expect(text).not.toContain('sk_');
    const data = JSON.parse(text);
    expect(data).toMatchObject({ format: 'sluice-keys', version: 1, hash: 'sha256' });
    expect(Object.keys(data.keys[0]).sort()).toEqual([
      'account',
      'createdAt',
      'hash',
      'id',
      'label',
      'revokedAt',
      'user',
    ]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['keys.json']);
  });

  it('hashes with HMAC given a secret, and refuses to open the file without it', async () => {
    const registry = open({ secret: 'pepper' });
    const { key } = await registry.create({ account: 'acme' });
    expect(JSON.parse(readFileSync(file, 'utf8')).hash).toBe('hmac-sha256');
    expect(await registry.authenticate(key)).toBeDefined();
    await expect(open().list({ account: 'acme' })).rejects.toThrow(
      /holds hmac-sha256 hashes but the registry was given no `secret`/,
    );
    await expect(open({ secret: 'other' }).authenticate(key)).resolves.toBeUndefined();
  });
});

describe('file key registry: several registries on one file', () => {
  it('see each other’s keys: at once for list, within reloadIntervalMs for authenticate', async () => {
    const a = open();
    const b = open();
    const first = await a.create({ account: 'acme' });
    expect(await b.authenticate(first.key)).toEqual({ id: first.id, account: 'acme', user: first.id });
    const second = await a.create({ account: 'acme' });
    expect((await b.list({ account: 'acme' })).map((k) => k.id)).toEqual([first.id, second.id]);
    // b's lookups come from memory until a second has passed on its clock; then it sees a's changes.
    await a.revoke({ account: 'acme', id: first.id });
    clock.advance(999);
    expect(await b.authenticate(first.key)).toBeDefined();
    clock.advance(1);
    expect(await b.authenticate(first.key)).toBeUndefined();
    expect(await b.authenticate(second.key)).toBeDefined();
    // And a sees its own revoke at once.
    expect(await a.authenticate(first.key)).toBeUndefined();
  });

  it('does not touch the disk on the hot path between checks', async () => {
    const registry = open();
    const { key } = await registry.create({ account: 'acme' });
    expect(await registry.authenticate(key)).toBeDefined();
    // Replace the file by garbage: lookups keep answering from memory until the next check reads it.
    writeFileSync(join(dir, 'garbage'), '{ not json');
    renameSync(join(dir, 'garbage'), file);
    for (let i = 0; i < 1000; i++) expect(await registry.authenticate(key)).toBeDefined();
    // The next check fails its caller; until the one after, the last good contents keep serving.
    clock.advance(1000);
    await expect(registry.authenticate(key)).rejects.toThrow(ConfigError);
    expect(await registry.authenticate(key)).toBeDefined();
    await expect(registry.list({ account: 'acme' })).rejects.toThrow(ConfigError);
  });

  it('fails lookups without touching the disk again until the next check when it never read the file', async () => {
    writeFileSync(file, '{ not json');
    const registry = open();
    const key = `sk_${'A'.repeat(43)}`;
    await expect(registry.authenticate(key)).rejects.toThrow(ConfigError);
    rmSync(file);
    await expect(registry.authenticate(key)).rejects.toThrow(ConfigError);
    clock.advance(1000);
    expect(await registry.authenticate(key)).toBeUndefined();
  });

  it('never pass the maximum nor lose a key when creating concurrently', async () => {
    const registries = [open(), open()];
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => registries[i % 2]!.create({ account: 'acme', label: String(i) })),
    );
    const made = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(made).toHaveLength(6);
    expect(refused).toHaveLength(14);
    for (const reason of refused)
      expect(reason).toMatchObject({ code: 'ERR_SLUICE_KEY_LIMIT', message: SEED_MESSAGE });
    const stored = JSON.parse(readFileSync(file, 'utf8')).keys.map((k: { id: string }) => k.id);
    expect(stored.sort()).toEqual(made.map((k) => k.id).sort());
    for (const key of made) expect(await registries[0]!.authenticate(key.key)).toBeDefined();
  });

  it('keep every key created concurrently when there is no maximum', async () => {
    const registries = [0, 1, 2].map(() => createKeyRegistry({ file }));
    const made = await Promise.all(
      Array.from({ length: 30 }, (_, i) => registries[i % 3]!.create({ account: `acct-${i % 4}` })),
    );
    const stored = JSON.parse(readFileSync(file, 'utf8')).keys;
    expect(stored).toHaveLength(30);
    for (const key of made) expect(await createKeyRegistry({ file }).authenticate(key.key)).toBeDefined();
  });
});

describe('file key registry: locks and errors', () => {
  it('breaks a lock left by a crashed writer after staleLockMs', async () => {
    writeFileSync(`${file}.lock`, '12345 abandoned\n');
    const registry = open({ staleLockMs: 50, lockTimeoutMs: 2000 });
    await expect(registry.create({ account: 'acme' })).resolves.toBeDefined();
    expect(readdirSync(dir)).toEqual(['keys.json']);
  });

  it('gives up on a held lock after lockTimeoutMs with a StoreError naming the lock file', async () => {
    writeFileSync(`${file}.lock`, '12345 busy\n');
    const error = await open({ lockTimeoutMs: 50 })
      .create({ account: 'acme' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'ERR_SLUICE_KEYS_LOCK' });
    expect((error as Error).message).toContain(`${file}.lock within 50 ms (\`lockTimeoutMs\`)`);
  });

  it('reports a path it cannot write as a StoreError naming the file', async () => {
    writeFileSync(join(dir, 'not-a-dir'), '');
    const inside = join(dir, 'not-a-dir', 'keys.json');
    const error = await createKeyRegistry({ file: inside })
      .create({ account: 'acme' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain(`${inside}.lock`);
  });

  it('names the field of a malformed file', async () => {
    writeFileSync(
      file,
      JSON.stringify({ format: 'sluice-keys', version: 1, hash: 'sha256', keys: [{ id: 'k' }] }),
    );
    await expect(open().list({ account: 'acme' })).rejects.toThrow(
      `Expected \`keys[0].account\` in ${file} to be a non-empty string, got \`undefined\``,
    );
    writeFileSync(file, 'nope');
    await expect(open().list({ account: 'acme' })).rejects.toThrow(`Expected ${file} to hold JSON`);
  });

  it('checks its options and arguments, naming them', async () => {
    expect(() => createKeyRegistry({})).toThrow('Give exactly one of `file` and `redis`');
    expect(() => createKeyRegistry({ file, redis: async () => null })).toThrow(ConfigError);
    expect(() => createKeyRegistry({ file, maxActivePerAccount: 0 })).toThrow(
      'Expected `maxActivePerAccount` to be an integer ≥ 1, got `0` (number)',
    );
    expect(() => createKeyRegistry({ file, prefix: 'x' })).toThrow(
      '`prefix` applies to the `redis` backend only',
    );
    expect(() => createKeyRegistry({ file, maxKeys: 6 } as never)).toThrow('Unknown option `maxKeys`');
    expect(() => createKeyRegistry({ redis: {} as never })).toThrow(
      /Expected `redis` to be an ioredis client/,
    );
    const registry = open();
    await expect(registry.create({ account: '' })).rejects.toThrow(
      'Expected `account` to be a non-empty string, got `""` (string)',
    );
    await expect(registry.create({ account: 'a', user: 7 } as never)).rejects.toThrow('Expected `user`');
    await expect(registry.revoke({ account: 'a' } as never)).rejects.toThrow(
      'Expected `id` to be a non-empty string',
    );
  });
});
