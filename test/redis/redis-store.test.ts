import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, fixedWindow, slidingWindow, tokenBucket, withId } from '../../src/index.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { CONSUME_SOURCE, GATE_SOURCE, LEASE_SOURCE } from '../../src/store/redis/scripts.js';
import { type RedisServer, redisAvailable, startRedisServer } from './harness.js';

const enabled = redisAvailable();
const T0 = 1_700_000_000_000;
const PINNED = {
  consume: '512ab5f2096031384760db6dde25f91337698988',
  lease: '994a8211cfb0f62a09bbef408a5c855c9cf580d7',
  gate: 'eb3c1bec18c5177d21a90ddc4cfd884ebf3d7436',
};

/** Calls per command since the last reset, from INFO commandstats. */
async function commandStats(client: Redis): Promise<Record<string, number>> {
  const info = await client.info('commandstats');
  const stats: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[match[1]!] = Number(match[2]);
  return stats;
}

describe.runIf(enabled)('redis store on a real redis-server', () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    client = new Redis(server.port, '127.0.0.1');
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('runs each script under the SHA1 of its source, the name SCRIPT LOAD gives it', async () => {
    const store = createRedisStore({ client });
    const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
    expect(store.scripts).toEqual({
      consume: sha1(CONSUME_SOURCE),
      lease: sha1(LEASE_SOURCE),
      gate: sha1(GATE_SOURCE),
    });
    // Pinned: a change to a script is a change of its name on every server, so it must be deliberate.
    expect(store.scripts).toEqual(PINNED);
    expect(await client.script('LOAD', CONSUME_SOURCE)).toBe(store.scripts.consume);
    expect(await client.script('LOAD', LEASE_SOURCE)).toBe(store.scripts.lease);
    expect(await client.script('LOAD', GATE_SOURCE)).toBe(store.scripts.gate);
  });

  it('makes one EVALSHA per decision whatever the number of limits; EVAL only once after a SCRIPT FLUSH', async () => {
    const store = createRedisStore({ client });
    const limits = [
      withId(tokenBucket({ rate: 100, per: '1s', burst: 50 }), 'cps-a'),
      withId(fixedWindow({ limit: 100, window: '1m' }), 'cps-b'),
      withId(slidingWindow({ limit: 100, window: '1m' }), 'cps-c'),
    ];
    await client.script('FLUSH');
    await client.config('RESETSTAT');
    for (let i = 0; i < 20; i++) await store.consume([{ limit: limits[0]!, key: 'one' }]);
    for (let i = 0; i < 20; i++) await store.consume(limits.map((limit) => ({ limit, key: 'three' })));
    await store.acquire('lease', 2, 1000);
    const stats = await commandStats(client);
    // The first call met NOSCRIPT and loaded the script with EVAL; every other call was one EVALSHA.
    expect(stats.eval).toBe(2);
    expect(stats.evalsha).toBe(41);
    // Nothing else went over the wire: the rest of the counts are commands run inside the scripts.
    const topLevel = Object.keys(stats).filter(
      (name) =>
        ![
          'eval',
          'evalsha',
          'get',
          'set',
          'time',
          'zremrangebyscore',
          'zcard',
          'zadd',
          'pexpire',
          'config|resetstat',
        ].includes(name),
    );
    expect(topLevel).toEqual([]);
  });

  it("decides on Redis's clock by default, whatever nowMs the caller passes", async () => {
    const store = createRedisStore({ client });
    const limit = withId(fixedWindow({ limit: 2, window: '1h' }), `server-clock-${Date.now()}`);
    const before = Date.now();
    // A caller whose clock is a day ahead and one a day behind still share one window.
    const a = await store.consume([{ limit, key: 'k' }], Date.now() + 86_400_000);
    const b = await store.consume([{ limit, key: 'k' }], Date.now() - 86_400_000);
    const c = await store.consume([{ limit, key: 'k' }]);
    const after = Date.now();
    expect([a.allowed, b.allowed, c.allowed]).toEqual([true, true, false]);
    for (const outcome of [a, b, c]) {
      expect(outcome.atMs).toBeGreaterThanOrEqual(before - 5);
      expect(outcome.atMs).toBeLessThanOrEqual(after + 5);
    }
    expect(c.resetAfterMs).toBe(3_600_000 - (c.atMs! % 3_600_000));
  });

  it('gives every key it writes a TTL: at least as long as its state matters, at most twice as long', async () => {
    await client.flushdb();
    const store = createRedisStore({ client });
    const bucket = withId(tokenBucket({ rate: 1, per: '1s', burst: 3 }), 'ttl-bucket');
    const fixed = withId(fixedWindow({ limit: 5, window: '1h' }), 'ttl-fixed');
    const sliding = withId(slidingWindow({ limit: 5, window: '1h' }), 'ttl-sliding');
    for (let i = 0; i < 3; i++) {
      await store.consume([
        { limit: bucket, key: 'k' },
        { limit: fixed, key: 'k' },
        { limit: sliding, key: 'k' },
      ]);
    }
    const lease = await store.acquire('k', 3, 30_000);
    expect(lease.acquired).toBe(true);
    const keys = (await client.keys('*')).sort();
    expect(keys).toEqual(
      [
        store.leaseKey('k'),
        store.stateKey(bucket, 'k'),
        store.stateKey(fixed, 'k'),
        store.stateKey(sliding, 'k'),
      ].sort(),
    );
    const ttl = async (key: string) => client.pttl(key);
    // A bucket of 3 at 1/s is full again 3 s after its third token (its TTL gets as much again in headroom,
    // so that a busy key moves its TTL now and then, not at every request); a window expires with its
    // window (the sliding one a window later, while it still weighs on the next); leases with the last.
    expect(await ttl(store.stateKey(bucket, 'k'))).toBeGreaterThan(2000);
    expect(await ttl(store.stateKey(bucket, 'k'))).toBeLessThanOrEqual(6000);
    expect(await ttl(store.stateKey(fixed, 'k'))).toBeGreaterThan(0);
    expect(await ttl(store.stateKey(fixed, 'k'))).toBeLessThanOrEqual(3_600_000);
    expect(await ttl(store.stateKey(sliding, 'k'))).toBeGreaterThan(3_600_000 - 1);
    expect(await ttl(store.stateKey(sliding, 'k'))).toBeLessThanOrEqual(7_200_000);
    expect(await ttl(store.leaseKey('k'))).toBeGreaterThan(0);
    expect(await ttl(store.leaseKey('k'))).toBeLessThanOrEqual(30_000);
    // A denied request writes nothing (no key created for the limit that would have allowed).
    const denied = await store.consume([
      { limit: bucket, key: 'k', cost: 2 },
      { limit: fixed, key: 'other' },
    ]);
    expect(denied.allowed).toBe(false);
    expect(await client.exists(store.stateKey(fixed, 'other'))).toBe(0);
  });

  it('caps a TTL that would not print as an integer, rather than failing the write', async () => {
    const store = createRedisStore({ client });
    const forever = withId(fixedWindow({ limit: 1, window: '100000d' }), `ttl-cap-${Date.now()}`);
    expect((await store.consume([{ limit: forever, key: 'k' }])).allowed).toBe(true);
    expect(await client.pttl(store.stateKey(forever, 'k'))).toBeGreaterThan(0);
    const lease = await store.acquire(`ttl-cap-${Date.now()}`, 1, 1e17);
    expect(lease.acquired).toBe(true);
  });

  it('always sets a TTL on a new key, whatever the time, and on a value written without a deadline', async () => {
    const store = createRedisStore({ client, clock: 'client' });
    const tag = `ttl-edge-${Date.now()}`;
    const fixed = withId(fixedWindow({ limit: 5, window: '1s' }), `${tag}-f`);
    const sliding = withId(slidingWindow({ limit: 5, window: '1s' }), `${tag}-s`);
    for (const at of [-5000, -500, 0]) {
      await store.consume([{ limit: fixed, key: `k${at}` }], at);
      await store.consume([{ limit: sliding, key: `k${at}` }], at);
      expect(await client.pttl(store.stateKey(fixed, `k${at}`))).toBeGreaterThan(0);
      expect(await client.pttl(store.stateKey(sliding, `k${at}`))).toBeGreaterThan(0);
    }
    // A bucket value of one double (no deadline), with no TTL: read as it is, then given a TTL.
    const bucket = withId(tokenBucket({ rate: 1, per: '1s', burst: 5 }), `${tag}-b`);
    const old = Buffer.alloc(8);
    old.writeDoubleLE((T0 / 1000) * 1 + 2); // two tokens in use at T0
    await client.set(store.stateKey(bucket, 'old'), old);
    expect((await store.consume([{ limit: bucket, key: 'old' }], T0)).remaining).toBe(2);
    expect(await client.pttl(store.stateKey(bucket, 'old'))).toBeGreaterThan(0);
  });

  it('keeps client-clock slack when a server-clock store wrote the key first', async () => {
    // A bucket, not a window: a client 10 s behind could be in the previous window, with nothing to keep.
    const limit = withId(tokenBucket({ rate: 1, per: '1s', burst: 100 }), `mixed-${Date.now()}`);
    await createRedisStore({ client }).consume([{ limit, key: 'k' }]);
    const before = await client.pttl(createRedisStore({ client }).stateKey(limit, 'k'));
    const behind = createRedisStore({ client, clock: () => Date.now() - 10_000 });
    expect((await behind.consume([{ limit, key: 'k' }])).allowed).toBe(true);
    // The late client needs the state 10 s longer than the server-clock writer did: the TTL grew.
    expect(await client.pttl(behind.stateKey(limit, 'k'))).toBeGreaterThan(before + 10_000);
  });

  it('refuses a malformed check or time before any I/O', async () => {
    let sent = 0;
    const store = createRedisStore({
      send: async () => {
        sent++;
        return [0];
      },
    });
    await expect(store.consume([{ key: 'k' } as never])).rejects.toThrow(/`checks\[0\]\.limit`/);
    const limit = withId(fixedWindow({ limit: 1, window: '1s' }), 'malformed');
    await expect(store.consume([{ limit, key: 'k' }], Number.NaN)).rejects.toThrow(/`nowMs`/);
    await expect(store.consume([{ limit, key: 1 as never }])).rejects.toThrow(/`key`/);
    const handMade = { kind: 'tokenBucket', key: 'x', name: 'x' } as never;
    await expect(store.consume([{ limit: handMade, key: 'k' }])).rejects.toThrow(/`checks\[0\]\.limit`/);
    const broken = createRedisStore({ send: async () => [0], clock: () => Number.NaN });
    await expect(broken.consume([{ limit, key: 'k' }])).rejects.toThrow(/`clock`/);
    expect(sent).toBe(0);
  });

  it('reloads its scripts after a SCRIPT FLUSH through node-redis too', async () => {
    const nodeRedis = createClient({ url: server.url });
    nodeRedis.on('error', () => {});
    await nodeRedis.connect();
    try {
      const store = createRedisStore({ client: nodeRedis });
      const limit = withId(fixedWindow({ limit: 2, window: '1h' }), `noscript-${Date.now()}`);
      await client.script('FLUSH');
      expect((await store.consume([{ limit, key: 'k' }])).remaining).toBe(1);
      await client.script('FLUSH');
      expect((await store.acquire(`noscript-${Date.now()}`, 1, 1000)).acquired).toBe(true);
      expect((await store.consume([{ limit, key: 'k' }])).remaining).toBe(0);
    } finally {
      nodeRedis.destroy();
    }
  });

  it('refuses a node-redis cluster as client (its sendCommand needs routing) and points to `send`', () => {
    const cluster = { sendCommand: async (_firstKey: string, _readonly: boolean, _args: string[]) => 1 };
    expect(() => createRedisStore({ client: cluster as never })).toThrow(/give `send`/);
  });

  it('keeps keys with separators and glob characters apart; reset without limits forgets only its key', async () => {
    const store = createRedisStore({ client, prefix: 'escape:test' });
    const limit = withId(fixedWindow({ limit: 1, window: '1h' }), 'esc');
    const subjects = ['a', 'a:r', 'a*', 'a}', '{a}', 'a%3A', '*'];
    for (const key of subjects) expect((await store.consume([{ limit, key }])).allowed).toBe(true);
    for (const key of subjects) expect((await store.peek([{ limit, key }])).allowed).toBe(false);
    await store.acquire('*', 1, 60_000);
    await store.reset('*');
    expect((await store.peek([{ limit, key: '*' }])).allowed).toBe(true);
    expect((await store.acquire('*', 1, 60_000)).acquired).toBe(true);
    for (const key of subjects.filter((s) => s !== '*')) {
      expect((await store.peek([{ limit, key }])).allowed, key).toBe(false);
    }
  });

  it('refuses bad options and arguments with errors that name them', () => {
    expect(() => createRedisStore({} as never)).toThrow(/`client`/);
    expect(() => createRedisStore({ client, send: async () => 1 })).toThrow(/not both/);
    expect(() => createRedisStore({ client, clock: 'local' as never })).toThrow(/`clock`/);
    expect(() => createRedisStore({ client, hashTag: 'user' as never })).toThrow(/`hashTag`/);
    expect(() => createRedisStore({ client, prefx: 'x' } as never)).toThrow(/Unknown option `prefx`/);
    const store = createRedisStore({ client });
    return expect(store.acquire('k', 0, 1000)).rejects.toThrow(/`max`/);
  });

  it('turns a Redis error into a StoreError that keeps the cause', async () => {
    const store = createRedisStore({
      send: async () => Promise.reject(new Error('READONLY You cannot write')),
    });
    const limit = withId(fixedWindow({ limit: 1, window: '1s' }), 'err');
    await expect(store.consume([{ limit, key: 'k' }])).rejects.toMatchObject({
      code: 'ERR_SLUICE_STORE',
      message: /READONLY/,
    });
  });
});

describe.runIf(enabled)('redis store on a Redis Cluster node', () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']);
    client = new Redis(server.port, '127.0.0.1');
    await client.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    for (
      let i = 0;
      i < 200 && !String(await client.call('CLUSTER', 'INFO')).includes('cluster_state:ok');
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  const limits = [
    withId(tokenBucket({ rate: 5, per: '1s', burst: 5 }), 'cluster-a'),
    withId(fixedWindow({ limit: 10, window: '1m' }), 'cluster-b'),
    withId(slidingWindow({ limit: 10, window: '1m' }), 'cluster-c'),
  ];

  it('rejects a cross-slot script, as a cluster does (the test is real)', async () => {
    await expect(client.eval("return redis.call('GET', KEYS[1])", 2, 'user:1', 'user:2')).rejects.toThrow(
      /CROSSSLOT/,
    );
  });

  it("checks several limits on several keys atomically with hashTag 'store'", async () => {
    const store = createRedisStore({ client });
    const outcome = await store.consume([
      { limit: limits[0]!, key: 'ip:203.0.113.9' },
      { limit: limits[1]!, key: 'account:7' },
      { limit: limits[2]!, key: 'user:9' },
    ]);
    expect(outcome.allowed).toBe(true);
    expect((await store.acquire('account:7', 2, 1000)).acquired).toBe(true);
  });

  it("spreads keys over slots with hashTag 'key', and refuses a batch that would cross slots", async () => {
    const store = createRedisStore({ client, hashTag: 'key' });
    const outcome = await store.consume(limits.map((limit) => ({ limit, key: 'user:9' })));
    expect(outcome.decisions.map((d) => d.allowed)).toEqual([true, true, true]);
    const slot = async (key: string) => client.call('CLUSTER', 'KEYSLOT', key);
    expect(await slot(store.stateKey(limits[0]!, 'user:9'))).toBe(await slot(store.leaseKey('user:9')));
    expect(await slot(store.stateKey(limits[0]!, 'user:9'))).not.toBe(
      await slot(store.stateKey(limits[0]!, 'user:1')),
    );
    const crossing = store.consume([
      { limit: limits[0]!, key: 'user:9' },
      { limit: limits[1]!, key: 'account:7' },
    ]);
    await expect(crossing).rejects.toBeInstanceOf(ConfigError);
    await expect(crossing).rejects.toThrow(/hash tags/);
  });

  it("gives the empty key a slot of its own with hashTag 'key' (no CROSSSLOT)", async () => {
    const store = createRedisStore({ client, hashTag: 'key' });
    const outcome = await store.consume(limits.map((limit) => ({ limit, key: '' })));
    expect(outcome.allowed).toBe(true);
  });

  it('maps keys to one tag with a hashTag function', async () => {
    const store = createRedisStore({ client, hashTag: (key) => key.split('/')[0]! });
    const outcome = await store.consume([
      { limit: limits[0]!, key: 'account:7/user:1' },
      { limit: limits[1]!, key: 'account:7/user:2' },
    ]);
    expect(outcome.allowed).toBe(true);
  });
});
