import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { StoreError } from '../core/errors.js';
import type { RedisSend } from '../store/redis/client.js';
import { removeStaleTemporaries, writeFileAtomic } from './atomic-file.js';
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
  /**
   * Pushes the expiry `ttlMs` ahead: true when done, false when the lock is no longer ours (taken over as
   * stale); rejects when that cannot be told now (an I/O error: worth retrying).
   */
  renew(): Promise<boolean>;
  /** Whether the lock is still ours (checked before every checkpoint write); rejects on an I/O error. */
  owns(): Promise<boolean>;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
  /** A Redis lock: where it is and the value that proves it is ours, to fence a checkpoint `SET` in Lua. */
  readonly redis?: { readonly send: RedisSend; readonly key: string; readonly value: string };
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
    return typeof record.token === 'string' && /^[\w-]+$/.test(record.token) && typeof record.pid === 'number'
      ? record
      : undefined;
  } catch {
    return undefined;
  }
}

const read = (path: string) => readFile(path, 'utf8').catch(() => undefined);

/** The renewal file of the holder with `token`: `{ expiresAtMs }`, written by that holder only. */
const renewalOf = (path: string, token: string) => `${path}.${token}.expiry`;

/** The record with its expiry pushed to its latest renewal. */
async function withRenewal(path: string, record: LockRecord): Promise<LockRecord> {
  try {
    const renewed = JSON.parse((await read(renewalOf(path, record.token))) ?? '{}') as {
      expiresAtMs?: unknown;
    };
    const at = renewed.expiresAtMs;
    return typeof at === 'number' && at > record.expiresAtMs ? { ...record, expiresAtMs: at } : record;
  } catch {
    return record;
  }
}

/** Expired, or held by a process that is gone from this host. A record we cannot read is not stale. */
const isStale = (record: LockRecord) =>
  record.expiresAtMs < Date.now() || (record.host === hostname() && !alive(record.pid));

/**
 * Takes the lock file `path`, created with `O_CREAT | O_EXCL` (`wx`) and holding the holder's pid, host, start
 * time, first expiry and a random token. The lock file is never rewritten: a renewal writes the new expiry
 * to the holder's own file `<path>.<token>.expiry` (atomically), so a renewal can never overwrite the lock
 * of another run, and the holder still owns the lock exactly while `path` holds its token.
 *
 * A stale lock (expired after its last renewal, or its pid gone on this host: a crashed or SIGKILLed run) is
 * taken over: it is renamed aside first, so that of several contenders only one can win, and checked again
 * once aside (same record, still not renewed); if it is not stale any more it is linked back. The holder
 * stops renewing (and working) before its expiry passes, so a renewal cannot land after a takeover was
 * decided. A live lock rejects with {@link JobLockedError}.
 *
 * @example
 * ```ts
 * const lock = await acquireFileLock('sync-orders.lock', 'sync-orders', 30_000);
 * ```
 */
export async function acquireFileLock(path: string, job: string, ttlMs: number): Promise<JobLock> {
  const record = newRecord(ttlMs);
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
    const parsed = parse(text);
    const holder = parsed && (await withRenewal(path, parsed));
    if (round >= 3 || holder === undefined || !isStale(holder)) throw new JobLockedError(job, path, holder);
    await breakStale(path, text, holder);
  }
  const renewal = renewalOf(path, record.token);
  const owns = async () => {
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    return text !== undefined && parse(text)?.token === record.token;
  };
  return {
    where: path,
    owns,
    async renew() {
      await writeFileAtomic(renewal, JSON.stringify({ expiresAtMs: Date.now() + ttlMs }));
      const text = await read(path);
      // Missing: released, or moved aside by a contender checking it (put back unless stale): ask again.
      if (text === undefined) throw new Error(`the lock file ${path} is missing`);
      if (parse(text)?.token === record.token) return true;
      await unlink(renewal).catch(() => {});
      return false;
    },
    async release() {
      // Moved aside first, so that a lock taken over meanwhile is put back, never deleted.
      const aside = `${path}.${randomBytes(6).toString('hex')}.release`;
      try {
        await rename(path, aside);
      } catch {
        return;
      }
      if (parse((await read(aside)) ?? '')?.token !== record.token) await link(aside, path).catch(() => {});
      else await unlink(renewal).catch(() => {});
      await unlink(aside).catch(() => {});
    },
  };
}

/**
 * Moves the stale lock aside (one contender wins the rename) and checks it again there: still the stale
 * record, still not renewed. Otherwise puts it back.
 */
async function breakStale(path: string, staleText: string, holder: LockRecord): Promise<void> {
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch {
    return;
  }
  const same = (await read(aside)) === staleText;
  if (!same || !isStale(await withRenewal(path, holder))) await link(aside, path).catch(() => {});
  else {
    const renewal = renewalOf(path, holder.token);
    await unlink(renewal).catch(() => {});
    await removeStaleTemporaries(renewal); // a holder killed mid-renewal
  }
  await unlink(aside).catch(() => {});
}
