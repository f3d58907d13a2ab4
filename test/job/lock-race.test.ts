import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { access } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobLockedError, runJob } from '../../src/job/index.js';
import { acquireFileLock } from '../../src/job/lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-job-lock-race-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const busy = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
};
/** A lock X whose expiry passed (nothing renewed it), taken over by B. */
async function takenOver(path: string) {
  const x = await acquireFileLock(path, 'j', 100);
  await sleep(150);
  const b = await acquireFileLock(path, 'j', 30_000);
  return { x, b };
}

describe('file lock: a run whose lock was taken over', () => {
  it('its release never makes the new holder lose the lock, not even for an instant', async () => {
    const path = join(dir, 'job.lock');
    const { x, b } = await takenOver(path);
    const text = readFileSync(path, 'utf8');
    let lost = 0;
    let done = false;
    const watch = (async () => {
      while (!done) if (!(await b.owns())) lost++;
    })();
    for (let i = 0; i < 50; i++) await x.release();
    done = true;
    await watch;
    expect(lost).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(await b.renew()).toBe(true);
  });

  it('its release never lets a third run in', async () => {
    const path = join(dir, 'job.lock');
    const { x, b } = await takenOver(path);
    let c: unknown;
    let done = false;
    const contender = (async () => {
      while (!done && c === undefined) c = await acquireFileLock(path, 'j', 30_000).catch(() => undefined);
    })();
    for (let i = 0; i < 100 && c === undefined; i++) await x.release();
    done = true;
    await contender;
    expect(c).toBeUndefined();
    expect(await b.owns()).toBe(true);
  });

  it('runJob does not release a lock whose lease expired (it may be someone else’s by then)', async () => {
    const file = join(dir, 'cp.json');
    const summary = await runJob({
      name: 'j',
      items: ['a', 'b'],
      id: (x) => x,
      concurrency: 1,
      checkpoint: { file },
      lock: { file: `${file}.lock`, ttl: 300 },
      output: false,
      process: async () => busy(400),
    });
    expect(summary.state).toBe('failed');
    expect(summary.error?.message).toMatch(/its expiry passed/);
    expect(existsSync(`${file}.lock`)).toBe(true); // left to expire; the next run takes it over
    await expect(acquireFileLock(`${file}.lock`, 'j', 1000)).resolves.toBeDefined();
  });
});

describe('file lock: takeovers', () => {
  const stale = JSON.stringify({ pid: 1, host: 'elsewhere', startedAtMs: 0, expiresAtMs: 1, token: 'old' });

  it('many contenders on a stale lock: exactly one wins, and the lock file is never missing meanwhile', async () => {
    const path = join(dir, 'job.lock');
    writeFileSync(path, stale);
    let missing = 0;
    let done = false;
    const watch = (async () => {
      while (!done) await access(path).catch(() => missing++);
    })();
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => acquireFileLock(path, 'j', 30_000)),
    );
    done = true;
    await watch;
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(JobLockedError);
    expect(missing).toBe(0);
  });

  it('are serialised by `<lock>.break`: a fresh breaker holds a takeover off, one older than 10 s does not', async () => {
    const path = join(dir, 'job.lock');
    writeFileSync(path, stale);
    writeFileSync(`${path}.break`, '{}');
    await expect(acquireFileLock(path, 'j', 30_000)).rejects.toThrow(JobLockedError);
    expect(readFileSync(path, 'utf8')).toBe(stale);
    const old = (Date.now() - 11_000) / 1000;
    utimesSync(`${path}.break`, old, old); // its owner died mid-takeover
    const lock = await acquireFileLock(path, 'j', 30_000);
    expect(await lock.owns()).toBe(true);
    expect(existsSync(`${path}.break`)).toBe(false);
    await lock.release();
    expect(existsSync(path)).toBe(false);
  });

  it('owns() is false for a lock file that stays missing, after a short grace', async () => {
    const path = join(dir, 'job.lock');
    const lock = await acquireFileLock(path, 'j', 30_000);
    rmSync(path);
    expect(await lock.owns()).toBe(false);
  });
});

const linux = existsSync('/proc/self/ns/pid') && existsSync('/proc/sys/kernel/random/boot_id');
describe.runIf(linux)('file lock: a dead pid makes a lock stale only in the same PID namespace', () => {
  const here = () => ({
    bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    pidNs: readlinkSync('/proc/self/ns/pid'),
  });
  const dead = {
    pid: 2 ** 22 + 17,
    host: hostname(),
    startedAtMs: 0,
    expiresAtMs: Date.now() + 60_000,
    token: 't',
  };

  it.each([
    ['another PID namespace (a container with host networking)', { pidNs: 'pid:[1]' }],
    ['another boot', { bootId: 'another-boot' }],
    ['an unknown namespace (an old lock record)', { pidNs: undefined, bootId: undefined }],
  ])('%s: not taken over before its expiry', async (_, differs) => {
    const path = join(dir, 'job.lock');
    writeFileSync(path, JSON.stringify({ ...dead, ...here(), ...differs }));
    await expect(acquireFileLock(path, 'j', 30_000)).rejects.toThrow(JobLockedError);
  });

  it('same boot and namespace: taken over; the lock records both', async () => {
    const path = join(dir, 'job.lock');
    writeFileSync(path, JSON.stringify({ ...dead, ...here() }));
    const lock = await acquireFileLock(path, 'j', 30_000);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ pid: process.pid, ...here() });
    await lock.release();
  });
});
