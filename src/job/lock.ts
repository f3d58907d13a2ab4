import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { type FileHandle, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { StoreError } from '../core/errors.js';
import { removeStaleTemporaries, writeFileAtomic } from '../internal/atomic-file.js';
import type { RedisSend } from '../store/redis/client.js';
import { JobLockedError, type LockHolder } from './errors.js';
import { takeBreaker } from './lock-breaker.js';

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
  /** Removes the lock if it is still ours (never another run's: see {@link acquireFileLock}). */
  release(): Promise<void>;
  /** A Redis lock: where it is and the value that proves it is ours, to fence a checkpoint `SET` in Lua. */
  readonly redis?: { readonly send: RedisSend; readonly key: string; readonly value: string };
}

/**
 * The contents of a lock: who holds it and the token that proves it is us. `bootId` and `pidNs` (Linux: the
 * kernel's boot id and the holder's PID namespace) say whether its pid can be checked from here.
 */
export interface LockRecord extends LockHolder {
  readonly token: string;
  readonly bootId?: string;
  readonly pidNs?: string;
}

const readOr = (read: () => string): string | undefined => {
  try {
    return read().trim() || undefined;
  } catch {
    return undefined;
  }
};
/** This machine's boot and PID namespace, where readable (Linux); read once. */
let machine: { bootId?: string; pidNs?: string } | undefined;
function thisMachine(): { bootId?: string; pidNs?: string } {
  if (machine === undefined) {
    const bootId = readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'));
    const pidNs = readOr(() => readlinkSync('/proc/self/ns/pid'));
    machine = { ...(bootId !== undefined && { bootId }), ...(pidNs !== undefined && { pidNs }) };
  }
  return machine;
}

/**
 * Whether the holder's pid can be checked from here: same host name, same boot, same PID namespace. A host
 * name alone is not enough (containers with host networking share it, not their pids); when the boot id or
 * the namespace cannot be read (not Linux), only the expiry tells.
 */
function samePidSpace(record: LockRecord): boolean {
  const here = thisMachine();
  return (
    record.host === hostname() &&
    here.bootId !== undefined &&
    here.pidNs !== undefined &&
    record.bootId === here.bootId &&
    record.pidNs === here.pidNs
  );
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

/**
 * Whether the lock's holder is a process of this machine (same host, boot and PID namespace) that no
 * longer exists: its lock can be taken over at once, without waiting for the expiry.
 *
 * @example
 * ```ts
 * if (holderIsDead(record)) await takeOver();
 * ```
 */
export function holderIsDead(record: LockRecord): boolean {
  return samePidSpace(record) && !alive(record.pid);
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
    ...thisMachine(),
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

/** Expired, or held by a process gone from this PID namespace. A record we cannot read is not stale. */
const isStale = (record: LockRecord) =>
  record.expiresAtMs < Date.now() || (samePidSpace(record) && !alive(record.pid));

/**
 * Takes the lock file `path`, created with `O_CREAT | O_EXCL` (`wx`) and holding the holder's pid, host, boot
 * id, PID namespace, start time, first expiry and a random token. The lock file is never rewritten: a
 * renewal writes the new expiry to the holder's own file `<path>.<token>.expiry` (atomically), so a renewal
 * can never overwrite the lock of another run, and the holder owns the lock exactly while `path` holds its
 * token.
 *
 * A stale lock (expired after its last renewal, or its pid gone from this PID namespace: a crashed or
 * SIGKILLed run) is taken over under the breaker file `<path>.break` (see {@link takeBreaker}): checked
 * again there (same record, still not renewed), then replaced by a new lock file renamed over it, so `path`
 * is never missing while someone holds it. A release, too, removes the lock only under the breaker and only
 * if it still holds our token (same inode, read first). The holder stops renewing (and working) before its
 * expiry passes, so a renewal cannot land after a takeover was decided. A live lock rejects with
 * {@link JobLockedError}.
 *
 * @example
 * ```ts
 * const lock = await acquireFileLock('sync-orders.lock', 'sync-orders', 30_000);
 * ```
 */
export async function acquireFileLock(path: string, job: string, ttlMs: number): Promise<JobLock> {
  const record = newRecord(ttlMs);
  let ino: number | undefined;
  for (let round = 0; ino === undefined; round++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify(record));
        await handle.sync();
        ino = (await handle.stat()).ino;
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
    ino = await takeOver(path, text, holder, record);
  }
  const renewal = renewalOf(path, record.token);
  /** Our lock file's contents, if `path` is still that very file (never another one with our token). */
  const ours = async (handle: FileHandle) =>
    (await handle.stat()).ino === ino && parse(await handle.readFile('utf8'))?.token === record.token;
  const owns = async () => {
    for (let tries = 0; ; tries++) {
      const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (text !== undefined) return parse(text)?.token === record.token;
      // `path` is never missing while held (takeovers rename over it): missing past a short grace, it
      // was released (or deleted by hand), so it is not ours.
      if (tries >= OWNS_GRACE_TRIES) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return {
    where: path,
    owns,
    async renew() {
      await writeFileAtomic(renewal, JSON.stringify({ expiresAtMs: Date.now() + ttlMs }));
      const text = await read(path);
      if (text === undefined) throw new Error(`the lock file ${path} is missing`);
      if (parse(text)?.token === record.token) return true;
      await unlink(renewal).catch(() => {});
      return false;
    },
    async release() {
      // Under the breaker no takeover runs, so the file checked is the file unlinked. Without it (busy for
      // a second: a contender is taking over a lock it thinks stale, or died doing so) the check is the same
      // but a takeover can still rename over `path` between our check and our unlink (microseconds).
      const giveBack = await takeBreaker(path, 1000);
      try {
        const handle = await open(path, 'r').catch(() => undefined);
        if (handle === undefined) return;
        try {
          if (!(await ours(handle))) return;
        } finally {
          await handle.close();
        }
        await unlink(path).catch(() => {});
        await unlink(renewal).catch(() => {});
      } finally {
        await giveBack?.();
      }
    },
  };
}

/** `owns()` retries a missing lock file this many times, 20 ms apart. */
const OWNS_GRACE_TRIES = 5;

/**
 * Replaces the stale lock `staleText` of `holder` by `record`, under the breaker: only if `path` still holds
 * that record and it is still stale (not renewed meanwhile). Resolves with the new lock file's inode, or
 * `undefined` when it did not (the caller looks again).
 */
async function takeOver(
  path: string,
  staleText: string,
  holder: LockRecord,
  record: LockRecord,
): Promise<number | undefined> {
  const giveBack = await takeBreaker(path, 0);
  if (giveBack === undefined) {
    await new Promise((resolve) => setTimeout(resolve, 20)); // another contender is at it
    return undefined;
  }
  try {
    if ((await read(path)) !== staleText || !isStale(await withRenewal(path, holder))) return undefined;
    await writeFileAtomic(path, JSON.stringify(record));
    const ino = (await stat(path)).ino;
    const renewal = renewalOf(path, holder.token);
    await unlink(renewal).catch(() => {});
    await removeStaleTemporaries(renewal); // a holder killed mid-renewal
    await removeStaleTemporaries(path); // a contender killed mid-takeover (takeovers run under the breaker)
    return ino;
  } finally {
    await giveBack();
  }
}
