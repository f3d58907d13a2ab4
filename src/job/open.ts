import {
  type CheckpointStore,
  createFileCheckpoint,
  createMemoryCheckpoint,
  createRedisCheckpoint,
} from './checkpoint.js';
import { acquireFileLock, type JobLock } from './lock.js';
import { acquireRedisLock } from './lock-redis.js';
import type { ResolvedJobOptions } from './options.js';
import { openRedis, type RedisLink } from './redis.js';

/**
 * Opens the checkpoint store and takes the lock the options name. Rejects with `JobLockedError` when another
 * run holds the lock (after closing what was opened).
 */
export async function openStores<T>(
  o: ResolvedJobOptions<T>,
): Promise<{ store: CheckpointStore; lock: JobLock | undefined; close: () => void }> {
  const links: RedisLink[] = [];
  const close = () => {
    for (const link of links) link.close();
  };
  try {
    let store = createMemoryCheckpoint();
    const c = o.checkpoint;
    if (c !== undefined && 'file' in c) store = createFileCheckpoint(c.file);
    else if (c !== undefined) {
      const link = await openRedis(c.redis, 'checkpoint.redis');
      links.push(link);
      store = createRedisCheckpoint(link, c.key);
    }
    let lock: JobLock | undefined;
    const l = o.lock;
    if (l !== undefined && 'file' in l) lock = await acquireFileLock(l.file, o.name, l.ttlMs);
    else if (l !== undefined) {
      const link = await openRedis(l.redis, 'lock.redis');
      links.push(link);
      lock = await acquireRedisLock(link, l.key, o.name, l.ttlMs);
    }
    return { store, lock, close };
  } catch (error) {
    close();
    throw error;
  }
}
