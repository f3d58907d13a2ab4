import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { StoreError } from '../core/errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { JobLockedError, type LockHolder } from './errors.js';

/**
 * A job lock held by this process.
 *
 * @example
 * ```ts
 * const lock = await acquireFileLock('sync.lock', 'sync', 30_000);
 * if (!(await lock.renew())) throw new Error('lock lost');
 * await lock.release();
 * ```
 */
export interface JobLock {
  readonly where: string;
  /** Pushes the expiry `ttlMs` ahead; false when the lock is no longer ours (taken over as stale). */
  renew(): Promise<boolean>;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
}

/** The contents of a lock: who holds it and the token that proves it is us. */
export interface LockRecord extends LockHolder {
  readonly token: string;
}

/** Whether a process with this pid exists on this host (EPERM: it exists, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A new record for this process. Expiry is wall-clock time, since other processes compare it. */
export function newRecord(ttlMs: number): LockRecord {
  const now = Date.now();
  return {
    pid: process.pid,
    host: hostname(),
    startedAtMs: now,
    expiresAtMs: now + ttlMs,
    token: randomBytes(12).toString('hex'),
  };
}

function parse(text: string): LockRecord | undefined {
  try {
    const record = JSON.parse(text) as LockRecord;
    return typeof record.token === 'string' && typeof record.pid === 'number' ? record : undefined;
  } catch {
    return undefined;
  }
}

const read = (path: string) => readFile(path, 'utf8').catch(() => undefined);

/** Expired, or held by a process that is gone from this host. A record we cannot read is not stale. */
const isStale = (record: LockRecord) =>
  record.expiresAtMs < Date.now() || (record.host === hostname() && !alive(record.pid));

/**
 * Takes the lock file `path`, created with `O_CREAT | O_EXCL` (`wx`) and holding the holder's pid, host, start
 * time and expiry. A stale lock (expired, or its pid gone on this host: a crashed or SIGKILLed run) is taken
 * over: it is renamed aside first, so that of several contenders only one can win; if what was moved turns
 * out not to be the stale record (taken meanwhile), it is linked back. A live lock rejects with
 * {@link JobLockedError}.
 *
 * @example
 * ```ts
 * const lock = await acquireFileLock('sync-orders.lock', 'sync-orders', 30_000);
 * ```
 */
export async function acquireFileLock(path: string, job: string, ttlMs: number): Promise<JobLock> {
  let record = newRecord(ttlMs);
  for (let round = 0; ; round++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify(record));
        await handle.sync();
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StoreError('ERR_SLUICE_JOB_LOCK', `Cannot create the lock file ${path}`, { cause: error });
      }
    }
    const text = await read(path);
    if (text === undefined) continue; // released meanwhile
    const holder = parse(text);
    if (round >= 3 || holder === undefined || !isStale(holder)) throw new JobLockedError(job, path, holder);
    await breakStale(path, text);
  }
  return {
    where: path,
    async renew() {
      const current = parse((await read(path)) ?? '');
      if (current?.token !== record.token) return false;
      record = { ...record, expiresAtMs: Date.now() + ttlMs };
      await writeFileAtomic(path, JSON.stringify(record));
      return true;
    },
    async release() {
      const current = parse((await read(path)) ?? '');
      if (current?.token === record.token) await unlink(path).catch(() => {});
    },
  };
}

/** Moves the stale lock aside (one contender wins the rename); puts back a lock that was not the stale one. */
async function breakStale(path: string, staleText: string): Promise<void> {
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch {
    return;
  }
  if ((await read(aside)) !== staleText) await link(aside, path).catch(() => {});
  await unlink(aside).catch(() => {});
}
