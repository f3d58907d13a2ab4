import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_SCRIPTS, FENCED_SET_SOURCE } from '../../src/job/checkpoint.js';
import { type JobOptions, type JobSummary, runJob } from '../../src/job/index.js';
import { startLease } from '../../src/job/lease.js';
import { acquireFileLock, type JobLock } from '../../src/job/lock.js';
import { LOCK_SCRIPTS } from '../../src/job/lock-redis.js';
import type { IoRedisLike } from '../../src/store/redis/client.js';
import { type RedisServer, redisAvailable, startRedisServer } from '../redis/harness.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-job-lease-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const items = Array.from({ length: 10 }, (_, i) => `item-${i}`);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const busy = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
};
const other = JSON.stringify({
  pid: 1,
  host: 'h',
  startedAtMs: 0,
  expiresAtMs: Date.now() + 60_000,
  token: 'other',
});

describe('file lock', () => {
  it('a renewal never rewrites the lock file, so it cannot overwrite a lock another run took over', async () => {
    const path = join(dir, 'job.lock');
    const lock = await acquireFileLock(path, 'j', 300);
    const text = readFileSync(path, 'utf8');
    expect(await lock.renew()).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(text);
    writeFileSync(path, other); // taken over meanwhile
    expect(await lock.renew()).toBe(false);
    expect(await lock.owns()).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe(other);
    await lock.release();
    expect(readFileSync(path, 'utf8')).toBe(other);
  });

  it('a contender sees the renewals: a lock file past its first expiry but renewed since is not stale', async () => {
    const path = join(dir, 'job.lock');
    const holder = {
      pid: 1,
      host: 'other-host',
      startedAtMs: 0,
      expiresAtMs: Date.now() - 1000,
      token: 'held',
    };
    writeFileSync(path, JSON.stringify(holder));
    writeFileSync(`${path}.held.expiry`, JSON.stringify({ expiresAtMs: Date.now() + 60_000 }));
    await expect(acquireFileLock(path, 'j', 300)).rejects.toThrow(/held by pid 1 on other-host/);
    expect(readJson(path)).toEqual(holder);
  });
});

describe('a run that lost its lock stops', () => {
  it('event loop blocked past the ttl: another run takes over; the first processes nothing more, writes no checkpoint, fails', async () => {
    const checkpoint = { file: join(dir, 'cp.json') };
    const lock = { file: join(dir, 'cp.lock'), ttl: 300 };
    const calls: string[] = [];
    let b: JobSummary | undefined;
    let afterB: Record<string, unknown> | undefined;
    const job = (who: string, process: JobOptions<string>['process']): JobOptions<string> => ({
      name: 'j',
      items,
      id: (x) => x,
      concurrency: 1,
      checkpoint,
      lock,
      output: false,
      process: async (x, c) => {
        calls.push(`${who}:${x}`);
        await process(x, c);
      },
    });
    const a = await runJob(
      job('A', async (x) => {
        if (x !== 'item-0') return;
        busy(500);
        b = await runJob(job('B', async () => {}));
        afterB = readJson(checkpoint.file);
        await new Promise((r) => setTimeout(r, 200));
      }),
    );
    expect(b).toMatchObject({ state: 'completed', processed: 10 });
    expect(a.state).toBe('failed');
    expect(a.error?.message).toMatch(/^Lost the job lock .*cp\.lock: its expiry passed/);
    expect(calls.filter((c) => c.startsWith('A:'))).toEqual(['A:item-0']);
    expect(readJson(checkpoint.file)).toEqual(afterB);
    expect(afterB).toMatchObject({ state: 'completed' });
  });

  it('fencing: once the lock file holds another token, no checkpoint is written and no item started', async () => {
    const file = join(dir, 'cp.json');
    const calls: string[] = [];
    const summary = await runJob({
      name: 'j',
      items: ['a', 'b', 'c'],
      id: (x) => x,
      concurrency: 1,
      checkpoint: { file },
      output: false,
      process: async (x) => {
        calls.push(x);
        if (x === 'b') writeFileSync(`${file}.lock`, other); // taken over; no renewal noticed it yet
      },
    });
    expect(summary.state).toBe('failed');
    expect(summary.error?.message).toMatch(/^Lost the job lock .*: another run took it over$/);
    expect(calls).toEqual(['a', 'b']);
    expect(readJson(file)).toMatchObject({ state: 'running', position: 1 });
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(other);
  });
});

describe('lease', () => {
  const fakeLock = (renew: () => Promise<boolean>): JobLock => ({
    where: 'test-lock',
    renew,
    owns: async () => true,
    release: async () => {},
  });

  it('a renewal that keeps failing is retried, and the lock is lost only near its expiry', async () => {
    let attempts = 0;
    const start = performance.now();
    const lost = await new Promise<{ error: Error; afterMs: number }>((resolve) => {
      startLease(
        fakeLock(async () => {
          attempts++;
          throw new Error('ECONNRESET');
        }),
        {
          ttlMs: 300,
          validFromMs: start,
          onLost: (error) => resolve({ error, afterMs: performance.now() - start }),
        },
      );
    });
    expect(attempts).toBeGreaterThan(1);
    expect(lost.afterMs).toBeGreaterThanOrEqual(260);
    expect(lost.afterMs).toBeLessThan(1000); // a timer may fire late on a busy machine
    expect(lost.error.message).toBe(
      'Lost the job lock test-lock: it could not be renewed before its expiry: ECONNRESET',
    );
  });

  it('a renewal that hangs: lost at the expiry all the same', async () => {
    const start = performance.now();
    const lease = startLease(
      fakeLock(() => new Promise(() => {})),
      { ttlMs: 300, validFromMs: start, onLost: () => {} },
    );
    expect(lease.valid()).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(lease.valid()).toBe(false);
    expect(() => lease.check()).toThrow(/its expiry passed/);
  });
});

describe('Redis checkpoint script', () => {
  it('has the SHA1 of its source', () => {
    expect(CHECKPOINT_SCRIPTS.fencedSet.sha).toBe(createHash('sha1').update(FENCED_SET_SOURCE).digest('hex'));
  });
});

describe.runIf(redisAvailable())('Redis lock', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('fencing: once the lock key holds another value, the checkpoint SET is refused', async () => {
    const { Redis } = await import('ioredis');
    const redis = new Redis(server.url);
    try {
      const calls: string[] = [];
      const summary = await runJob({
        name: 'j',
        items: ['a', 'b', 'c'],
        id: (x) => x,
        concurrency: 1,
        checkpoint: { redis: server.url, key: 'jobs:f' },
        output: false,
        process: async (x) => {
          calls.push(x);
          if (x === 'b') await redis.set('jobs:f:lock', 'other');
        },
      });
      expect(summary.state).toBe('failed');
      expect(summary.error?.message).toMatch(/^Lost the job lock Redis key jobs:f:lock/);
      expect(calls).toEqual(['a', 'b']);
      expect(JSON.parse((await redis.get('jobs:f'))!)).toMatchObject({ state: 'running', position: 1 });
      expect(await redis.get('jobs:f:lock')).toBe('other');
    } finally {
      redis.disconnect();
    }
  });

  it('one failed renewal (a Redis blip) does not fail the job: it is retried', async () => {
    const { Redis } = await import('ioredis');
    const redis = new Redis(server.url);
    try {
      let failures = 0;
      const flaky: IoRedisLike = {
        call: (command, ...args) => {
          if (command === 'EVALSHA' && args[0] === LOCK_SCRIPTS.renew.sha && failures++ === 0)
            return Promise.reject(new Error('Connection is closed.'));
          return redis.call(command, ...args);
        },
      };
      const summary = await runJob({
        name: 'j',
        items: ['a', 'b', 'c', 'd', 'e'],
        id: (x) => x,
        concurrency: 1,
        checkpoint: { redis: flaky, key: 'jobs:r' },
        lock: { redis: flaky, key: 'jobs:r:lock', ttl: '300ms' },
        output: false,
        process: () => new Promise((r) => setTimeout(r, 100)),
      });
      expect(failures).toBeGreaterThan(1);
      expect(summary.error).toBeUndefined();
      expect(summary).toMatchObject({ state: 'completed', processed: 5 });
    } finally {
      redis.disconnect();
    }
  });
});
