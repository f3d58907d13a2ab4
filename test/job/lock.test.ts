import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runRunCommand } from '../../src/cli/run.js';
import { JobLockedError, type JobOptions, runJob } from '../../src/job/index.js';
import { LOCK_SCRIPTS, RELEASE_SOURCE, RENEW_SOURCE } from '../../src/job/lock-redis.js';
import { type RedisServer, redisAvailable, startRedisServer } from '../redis/harness.js';
import { spawnCli, waitFor, writeJobModule } from './child.js';
import { startUpstream } from './upstream.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-job-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A job whose items wait for `release()`; `started` resolves when the first item runs. */
function gatedJob(extra: Partial<JobOptions<string>> = {}) {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let started!: () => void;
  const running = new Promise<void>((r) => {
    started = r;
  });
  const options: JobOptions<string> = {
    name: 'locked-job',
    items: ['a', 'b'],
    id: (x) => x,
    process: async (_, { signal }) => {
      started();
      await Promise.race([
        gate,
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      ]);
    },
    checkpoint: { file: join(dir, 'checkpoint.json') },
    output: false,
    ...extra,
  };
  return { options, release, running };
}

describe('job lock, file', () => {
  it('a second start while the first runs rejects with who holds the lock, since when, until when', async () => {
    const a = gatedJob();
    const first = runJob(a.options);
    await a.running;
    const error = await runJob(gatedJob().options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobLockedError);
    const iso = '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';
    expect((error as Error).message).toMatch(
      new RegExp(
        `^Job locked-job is already running: the lock .*checkpoint\\.json\\.lock is held by pid ${process.pid} ` +
          `on ${hostname()} since ${iso}; it expires at ${iso} unless renewed$`,
      ),
    );
    a.release();
    expect((await first).state).toBe('completed');
    expect(existsSync(join(dir, 'checkpoint.json.lock'))).toBe(false);
    const b = gatedJob();
    b.release();
    expect((await runJob(b.options)).state).toBe('completed');
  });

  it('is renewed while the job runs, and released on abort and on failure', async () => {
    const lock = join(dir, 'job.lock');
    const a = gatedJob({ lock: { file: lock, ttl: '300ms' } });
    const stop = new AbortController();
    const first = runJob({ ...a.options, signal: stop.signal });
    await a.running;
    const before = JSON.parse(readFileSync(lock, 'utf8')) as { expiresAtMs: number; token: string };
    await new Promise((r) => setTimeout(r, 400));
    // Renewals go to the holder's own file; the lock file itself is never rewritten.
    const renewal = `${lock}.${before.token}.expiry`;
    const after = JSON.parse(readFileSync(renewal, 'utf8')) as { expiresAtMs: number };
    expect(after.expiresAtMs).toBeGreaterThan(before.expiresAtMs);
    await expect(runJob(gatedJob({ lock: { file: lock } }).options)).rejects.toThrow(JobLockedError);
    stop.abort();
    a.release();
    expect((await first).state).toBe('aborted');
    expect(existsSync(lock)).toBe(false);
    expect(existsSync(renewal)).toBe(false);
    const failing = await runJob({
      ...gatedJob({ lock: { file: lock } }).options,
      id: () => '',
    });
    expect(failing.state).toBe('failed');
    expect(existsSync(lock)).toBe(false);
  });

  // The pid is checked only within the same boot and PID namespace (Linux: see lock-race.test.ts).
  const linux = existsSync('/proc/self/ns/pid') && existsSync('/proc/sys/kernel/random/boot_id');
  it.each([
    ...(linux
      ? [
          [
            'its pid is gone in this PID namespace',
            {
              pid: 2 ** 22 + 17,
              host: hostname(),
              expiresAtMs: Date.now() + 60_000,
              bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
              pidNs: readlinkSync('/proc/self/ns/pid'),
            },
          ] as const,
        ]
      : []),
    ['it expired', { pid: 1, host: 'elsewhere', expiresAtMs: Date.now() - 1 }] as const,
  ])('takes over a stale lock (%s)', async (_, holder) => {
    const lock = join(dir, 'job.lock');
    writeFileSync(lock, JSON.stringify({ ...holder, startedAtMs: 0, token: 'old' }));
    const job = gatedJob({ lock: { file: lock } });
    job.release();
    expect((await runJob(job.options)).state).toBe('completed');
  });

  it('does not take over a live lock of another host before it expires', async () => {
    const lock = join(dir, 'job.lock');
    const holder = { pid: 1, host: 'other-host', startedAtMs: Date.now(), expiresAtMs: Date.now() + 60_000 };
    writeFileSync(lock, JSON.stringify({ ...holder, token: 'x' }));
    await expect(runJob(gatedJob({ lock: { file: lock } }).options)).rejects.toThrow(
      /held by pid 1 on other-host since/,
    );
  });

  it('sluice run: a second start exits 2 with the message; SIGTERM stops the first cleanly (exit 1)', async () => {
    const upstream = await startUpstream({ delayMs: 100 });
    try {
      const module = writeJobModule(dir, 100);
      const args = [module, '--checkpoint', join(dir, 'cp.json'), '--lock', join(dir, 'job.lock')];
      const first = spawnCli(args, { UPSTREAM: upstream.url });
      await waitFor(() => upstream.hits.size > 0);
      const printed: string[] = [];
      process.env.UPSTREAM = upstream.url;
      const stdout: string[] = [];
      const exitCode = await runRunCommand(args, (line) => stdout.push(line), {
        printError: (line) => printed.push(line),
        handleSignals: false,
      });
      expect(stdout).toEqual([]); // errors go to stderr
      expect(printed, printed.join('\n')).toHaveLength(1);
      expect(exitCode, printed.join('\n')).toBe(2);
      expect(printed.join('\n')).toMatch(
        /^Job kill-test is already running: the lock .*job\.lock is held by pid \d+ on /,
      );
      first.child.kill('SIGTERM');
      const { code, output } = await first.exited;
      expect(code).toBe(1);
      expect(output).toContain('kill-test aborted');
      expect(existsSync(join(dir, 'job.lock'))).toBe(false);
    } finally {
      delete process.env.UPSTREAM;
      await upstream.close();
    }
  }, 30_000);

  it('sluice run: bad arguments exit 2 with a usage message', async () => {
    const printed: string[] = [];
    const run = (args: string[]) => runRunCommand(args, () => {}, { printError: (l) => printed.push(l) });
    expect(await run(['x.js', '--concurrency', '0'])).toBe(2);
    expect(printed[0]).toMatch(/^Expected `--concurrency` to be an integer ≥ 1, got `0`/);
  });

  it('sluice run: a job without a name exits 2 before any Redis key is made from it', async () => {
    const module = join(dir, 'nameless.mjs');
    writeFileSync(module, 'export default { items: [], id: (x) => x, process: async () => {} };\n');
    const printed: string[] = [];
    const args = [module, '--redis', 'redis://127.0.0.1:1'];
    const run = (a: string[]) => runRunCommand(a, () => {}, { printError: (l) => printed.push(l) });
    expect(await run(args)).toBe(2);
    expect(printed[0]).toMatch(/^Missing the job's name: give `--name N` or a `name` in the job module /);
    expect(printed.join('\n')).not.toContain('undefined');
    printed.length = 0;
    expect(await run([...args, '--name', 'a b'])).toBe(2);
    expect(printed[0]).toMatch(/^Expected the job's name to be letters, digits, .* got `a b`/);
  });
});

describe('job lock, Redis scripts', () => {
  it('have the SHA1 of their source', () => {
    const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
    expect(LOCK_SCRIPTS.renew.sha).toBe(sha1(RENEW_SOURCE));
    expect(LOCK_SCRIPTS.release.sha).toBe(sha1(RELEASE_SOURCE));
  });
});

describe.runIf(redisAvailable())('job lock and checkpoint, Redis', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('one run at a time; checkpoint and cursor in Redis; lock released at the end', async () => {
    const { Redis } = await import('ioredis');
    const redis = new Redis(server.url);
    try {
      const where = { checkpoint: { redis: server.url, key: 'jobs:r' } };
      const a = gatedJob({ ...where, name: 'redis-job' });
      const first = runJob({
        ...a.options,
        process: async (x, c) => {
          await a.options.process(x, c);
          c.setCursor('c1');
        },
      });
      await a.running;
      expect(await redis.pttl('jobs:r:lock')).toBeGreaterThan(0);
      await expect(runJob(gatedJob({ ...where, name: 'redis-job' }).options)).rejects.toThrow(
        /^Job redis-job is already running: the lock Redis key jobs:r:lock is held by pid \d+ on .* expires at/,
      );
      a.release();
      expect(await first).toMatchObject({ state: 'completed', processed: 2, cursor: 'c1' });
      expect(await redis.exists('jobs:r:lock')).toBe(0);
      expect(JSON.parse((await redis.get('jobs:r'))!)).toMatchObject({ state: 'completed', cursor: 'c1' });
      const seen: unknown[] = [];
      const { items: _, ...rest } = gatedJob(where).options;
      await runJob({
        ...rest,
        name: 'redis-job',
        source: ({ cursor }) => {
          seen.push(cursor);
          return [];
        },
      });
      expect(seen).toEqual(['c1']);
    } finally {
      redis.disconnect();
    }
  });

  it.runIf(process.platform === 'linux')(
    'takes over at once a lock left by a dead process of this machine; not one of a live process',
    async () => {
      const { Redis } = await import('ioredis');
      const redis = new Redis(server.url);
      try {
        const here = {
          host: hostname(),
          bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
          pidNs: readlinkSync('/proc/self/ns/pid'),
          startedAtMs: Date.now(),
          token: 'old',
        };
        const where = { checkpoint: { redis: server.url, key: 'jobs:dead' } };
        await redis.set('jobs:dead:lock', JSON.stringify({ ...here, pid: 2 ** 22 + 17 }), 'PX', 60_000);
        const job = gatedJob({ ...where, name: 'dead-holder' });
        job.release();
        expect((await runJob(job.options)).state).toBe('completed');
        await redis.set('jobs:dead:lock', JSON.stringify({ ...here, pid: process.pid }), 'PX', 60_000);
        await expect(runJob(gatedJob({ ...where, name: 'dead-holder' }).options)).rejects.toThrow(
          /already running/,
        );
      } finally {
        redis.disconnect();
      }
    },
  );
});
