import { StoreError } from '../core/errors.js';
import { runScript } from '../store/redis/client.js';
import { scriptOf } from '../store/redis/scripts.js';
import { JobLockedError, type LockHolder } from './errors.js';
import { holderIsDead, type JobLock, type LockRecord, newRecord } from './lock.js';
import type { RedisLink } from './redis.js';

/** Renewal: PEXPIRE only if the key still holds our value. KEYS: lock. ARGV: value, ttl ms. */
export const RENEW_SOURCE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** Release: DEL only if the key still holds our value. KEYS: lock. ARGV: value. */
export const RELEASE_SOURCE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** The scripts of the Redis lock, with their SHA1 for EVALSHA. */
export const LOCK_SCRIPTS = { renew: scriptOf(RENEW_SOURCE), release: scriptOf(RELEASE_SOURCE) } as const;

/**
 * Takes the job lock in Redis: `SET key value NX PX ttl`, the value holding a random token with the pid,
 * host and start time. Renewal and release compare the value first (Lua), so a run never extends or deletes
 * a lock that expired and was taken by another. The expiry is on Redis's clock. A held lock rejects with
 * {@link JobLockedError}, its expiry read from `PTTL`.
 *
 * @example
 * ```ts
 * const lock = await acquireRedisLock(link, 'jobs:sync:lock', 'sync', 30_000);
 * ```
 */
export async function acquireRedisLock(
  link: RedisLink,
  key: string,
  job: string,
  ttlMs: number,
): Promise<JobLock> {
  const where = `Redis key ${key}`;
  const call = async (args: string[]) => {
    try {
      return await link.send(args);
    } catch (error) {
      throw new StoreError('ERR_SLUICE_JOB_LOCK', `Lock ${where}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  const { token, pid, host, startedAtMs, bootId, pidNs } = newRecord(ttlMs);
  const value = JSON.stringify({ token, pid, host, startedAtMs, bootId, pidNs });
  const ttl = String(Math.ceil(ttlMs));
  const take = async () => (await call(['SET', key, value, 'NX', 'PX', ttl])) !== null;
  if (!(await take())) {
    const [held, pttl] = await Promise.all([call(['GET', key]), call(['PTTL', key])]);
    let holder: (LockHolder & { token?: string; bootId?: string; pidNs?: string }) | undefined;
    try {
      const parsed = JSON.parse(String(held)) as LockHolder;
      holder = { ...parsed, expiresAtMs: Date.now() + Number(pttl) };
    } catch {}
    // A lock left by a dead process of this machine is taken over at once (compare-and-delete, then take).
    const dead =
      holder !== undefined &&
      typeof holder.pid === 'number' &&
      holderIsDead({
        ...holder,
        token: holder.token ?? '',
        expiresAtMs: holder.expiresAtMs ?? 0,
      } as LockRecord);
    if (!dead || held === null || held === undefined) throw new JobLockedError(job, where, holder);
    await runScript(link.send, LOCK_SCRIPTS.release, [
      'EVALSHA',
      LOCK_SCRIPTS.release.sha,
      '1',
      key,
      String(held),
    ]);
    if (!(await take())) throw new JobLockedError(job, where, holder);
  }
  return {
    where,
    redis: { send: link.send, key, value },
    async owns() {
      const held = await call(['GET', key]);
      return held !== null && held !== undefined && String(held) === value;
    },
    async renew() {
      const args = ['EVALSHA', LOCK_SCRIPTS.renew.sha, '1', key, value, ttl];
      const reply: unknown = await runScript(link.send, LOCK_SCRIPTS.renew, args);
      return Number(reply) === 1;
    },
    async release() {
      await runScript(link.send, LOCK_SCRIPTS.release, [
        'EVALSHA',
        LOCK_SCRIPTS.release.sha,
        '1',
        key,
        value,
      ]);
    },
  };
}
