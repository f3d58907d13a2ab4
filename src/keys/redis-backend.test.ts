import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, redisAvailable, startRedisServer } from '../../test/redis/harness.js';
import { createManualClock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import { createKeyRegistry, KeyLimitError, type KeyRegistry, merchantApiKeys } from './index.js';
import { CREATE_SOURCE, KEY_SCRIPTS, LIST_SOURCE, REVOKE_SOURCE } from './redis-scripts.js';

const SEED_MESSAGE =
  'You’ve reached your limit of 6 API keys. Please delete any unused API keys and try again.';
const PINNED = {
  create: 'dd77b3ac36b5be60ffafa2dec24c5d6abcae58d3',
  revoke: '41d83407435f1df3c7e143c1da3f463bea27dfc8',
  list: '6cab5d8248a4df21d9e94337c99b7bed97d41d40',
};
const T0 = 1_700_000_000_000;

describe.runIf(redisAvailable())('redis key registry on a real redis-server', () => {
  let server: RedisServer;
  let client: Redis;
  let prefixes = 0;
  /** A registry under a prefix of its own (or a shared one, to make two registries share data). */
  const open = (extra: Record<string, unknown> = {}): KeyRegistry =>
    createKeyRegistry({ redis: client, prefix: `t${++prefixes}`, ...merchantApiKeys, ...extra });

  beforeAll(async () => {
    server = await startRedisServer();
    client = new Redis(server.port, '127.0.0.1');
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('runs each script under the SHA1 of its source (pinned), and reloads them after SCRIPT FLUSH', async () => {
    const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
    const shas = Object.fromEntries(Object.entries(KEY_SCRIPTS).map(([name, s]) => [name, s.sha]));
    expect(shas).toEqual({
      create: sha1(CREATE_SOURCE),
      revoke: sha1(REVOKE_SOURCE),
      list: sha1(LIST_SOURCE),
    });
    expect(shas).toEqual(PINNED);
    for (const s of Object.values(KEY_SCRIPTS)) expect(await client.script('LOAD', s.source)).toBe(s.sha);
    await client.script('FLUSH');
    const registry = open();
    const { id, key } = await registry.create({ account: 'acme' });
    await client.script('FLUSH');
    expect(await registry.list({ account: 'acme' })).toHaveLength(1);
    await client.script('FLUSH');
    expect(await registry.revoke({ account: 'acme', id })).toBe(true);
    expect(await registry.authenticate(key)).toBeUndefined();
  });

  it('creates, lists, revokes and authenticates', async () => {
    const clock = createManualClock(T0);
    const registry = open({ clock: clock.now });
    const a = await registry.create({ account: 'acme', label: 'ci' });
    clock.advance(1000);
    const b = await registry.create({ account: 'acme', user: 'rating' });
    expect(a).toMatchObject({ account: 'acme', user: a.id, label: 'ci', createdAt: T0 });
    expect(a.key).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
    expect(await registry.authenticate(a.key)).toEqual({ id: a.id, account: 'acme', user: a.id });
    expect(await registry.authenticate(b.key)).toEqual({ id: b.id, account: 'acme', user: 'rating' });
    expect(await registry.authenticate(`sk_${'A'.repeat(43)}`)).toBeUndefined();
    clock.advance(1000);
    expect(await registry.revoke({ account: 'other', id: a.id })).toBe(false);
    expect(await registry.revoke({ account: 'acme', id: 'key_nope' })).toBe(false);
    expect(await registry.revoke({ account: 'acme', id: a.id })).toBe(true);
    expect(await registry.revoke({ account: 'acme', id: a.id })).toBe(false);
    expect(await registry.authenticate(a.key)).toBeUndefined();
    expect(await registry.list({ account: 'acme' })).toEqual([
      {
        id: a.id,
        account: 'acme',
        user: a.id,
        label: 'ci',
        createdAt: T0,
        revokedAt: T0 + 2000,
        hashPrefix: expect.stringMatching(/^[\w-]{8}$/),
      },
      {
        id: b.id,
        account: 'acme',
        user: 'rating',
        createdAt: T0 + 1000,
        hashPrefix: expect.stringMatching(/^[\w-]{8}$/),
      },
    ]);
    expect(await registry.list({ account: 'other' })).toEqual([]);
  });

  it('refuses the 7th active key with the Merchant API message; revoking frees a slot', async () => {
    const registry = open();
    const made = [];
    for (let i = 0; i < 6; i++) made.push(await registry.create({ account: 'acme:{x}*' }));
    const error = await registry.create({ account: 'acme:{x}*' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyLimitError);
    expect(error).toMatchObject({ code: 'ERR_SLUICE_KEY_LIMIT', message: SEED_MESSAGE, limit: 6 });
    await expect(registry.create({ account: 'acme' })).resolves.toBeDefined();
    await registry.revoke({ account: 'acme:{x}*', id: made[0]!.id });
    await expect(registry.create({ account: 'acme:{x}*' })).resolves.toBeDefined();
    await expect(registry.create({ account: 'acme:{x}*' })).rejects.toThrow(SEED_MESSAGE);
  });

  it('stores hashes only: no raw key anywhere in Redis', async () => {
    const prefix = 'raw-check';
    const registry = createKeyRegistry({ redis: client, prefix });
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push((await registry.create({ account: 'acme', label: `k${i}` })).key);
    let dump = '';
    for (const name of await client.keys(`{${prefix}}:*`)) {
      const type = await client.type(name);
      const value =
        type === 'hash'
          ? await client.hgetall(name)
          : type === 'set'
            ? await client.smembers(name)
            : await client.call('ZRANGE', name, '0', '-1');
      dump += `${name} ${JSON.stringify(value)}\n`;
    }
    expect(dump).toContain(`{${prefix}}:records`);
    for (const key of keys) expect(dump).not.toContain(key.slice(3));
    expect(dump).not.toContain('sk_');
  });

  it('shares keys at once between registries on different clients (ioredis and node-redis)', async () => {
    const nodeRedis = createClient({ url: server.url });
    nodeRedis.on('error', () => {});
    await nodeRedis.connect();
    try {
      const a = createKeyRegistry({ redis: client, prefix: 'shared' });
      const b = createKeyRegistry({ redis: nodeRedis, prefix: 'shared' });
      const made = await a.create({ account: 'acme' });
      expect(await b.authenticate(made.key)).toEqual({ id: made.id, account: 'acme', user: made.id });
      expect(await b.revoke({ account: 'acme', id: made.id })).toBe(true);
      expect(await a.authenticate(made.key)).toBeUndefined();
      const send = createKeyRegistry({ redis: (args) => nodeRedis.sendCommand(args), prefix: 'shared' });
      expect((await send.list({ account: 'acme' }))[0]).toMatchObject({
        id: made.id,
        revokedAt: expect.any(Number),
      });
    } finally {
      nodeRedis.destroy();
    }
  });

  it('never passes the maximum nor loses a key under concurrent creates from two connections', async () => {
    const other = new Redis(server.port, '127.0.0.1');
    try {
      const registries = [
        createKeyRegistry({ redis: client, prefix: 'race', maxActivePerAccount: 6 }),
        createKeyRegistry({ redis: other, prefix: 'race', maxActivePerAccount: 6 }),
      ];
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) => registries[i % 2]!.create({ account: 'acme' })),
      );
      const made = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect(made).toHaveLength(6);
      expect(
        results.filter((r) => r.status === 'rejected' && r.reason instanceof KeyLimitError),
      ).toHaveLength(34);
      const listed = await registries[1]!.list({ account: 'acme' });
      expect(listed.map((k) => k.id).sort()).toEqual(made.map((k) => k.id).sort());
      for (const key of made) expect(await registries[1]!.authenticate(key.key)).toBeDefined();
    } finally {
      other.disconnect();
    }
  });

  it('hashes with HMAC given a secret, and refuses creates with another hash setting', async () => {
    const hmac = createKeyRegistry({ redis: client, prefix: 'hmac', secret: 'pepper' });
    const { key } = await hmac.create({ account: 'acme' });
    expect(await hmac.authenticate(key)).toBeDefined();
    expect(
      await createKeyRegistry({ redis: client, prefix: 'hmac', secret: 'salt' }).authenticate(key),
    ).toBeUndefined();
    const plain = createKeyRegistry({ redis: client, prefix: 'hmac' });
    const error = await plain.create({ account: 'acme' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('holds hmac-sha256 hashes but was opened with no `secret`');
  });

  it('checks its Redis options', () => {
    expect(() => createKeyRegistry({ redis: client, prefix: '{x}' })).toThrow(
      'Expected `prefix` to be a string without `{` or `}` (it becomes a hash tag), got `"{x}"` (string)',
    );
    expect(() => createKeyRegistry({ redis: client, reloadIntervalMs: 5 })).toThrow(
      '`reloadIntervalMs` applies to the `file` backend only',
    );
    const cluster = { sendCommand: async (_key: string, _readonly: boolean, _args: string[]) => 1 };
    expect(() => createKeyRegistry({ redis: cluster as never })).toThrow(
      /Expected `redis` to be an ioredis client/,
    );
  });
});
