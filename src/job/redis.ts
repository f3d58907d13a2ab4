import { connectRedis } from '../gateway/store.js';
import type { IoRedisLike, RedisSend } from '../store/redis/client.js';
import { senderOf } from '../store/redis/client.js';

/** A way to send Redis commands and to close what was opened for it. */
export interface RedisLink {
  readonly send: RedisSend;
  close(): void;
}

/**
 * A link to Redis from a URL (an ioredis client made here, closed by `close`) or a client given by the
 * caller (left open). `path` names the option in errors.
 */
export async function openRedis(target: string | IoRedisLike, path: string): Promise<RedisLink> {
  if (typeof target !== 'string') return { send: senderOf(target, undefined), close: () => {} };
  const client = await connectRedis(target, path);
  return { send: senderOf(client, undefined), close: () => client.disconnect() };
}
