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
 * Opens the checkpoint store and takes the lock the options name (one Redis link when both are on the same
 * Redis: the same URL or client). Rejects with `JobLockedError` when another
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
    let shared: { target: unknown; link: RedisLink } | undefined;
    const c = o.checkpoint;
    if (c !== undefined && 'file' in c) store = createFileCheckpoint(c.file);
    else if (c !== undefined) {
      const link = await openRedis(c.redis, 'checkpoint.redis');
      links.push(link);
      store = createRedisCheckpoint(link, c.key);
      shared = { target: c.redis, link };
    }
    let lock: JobLock | undefined;
    const l = o.lock;
    if (l !== undefined && 'file' in l) lock = await acquireFileLock(l.file, o.name, l.ttlMs);
    else if (l !== undefined) {
      // The same Redis as the checkpoint's: one link, so that checkpoint writes are fenced in one script.
      const link = shared?.target === l.redis ? shared.link : await openRedis(l.redis, 'lock.redis');
      if (link !== shared?.link) links.push(link);
      lock = await acquireRedisLock(link, l.key, o.name, l.ttlMs);
    }
    return { store, lock, close };
  } catch (error) {
    close();
    throw error;
  }
}
