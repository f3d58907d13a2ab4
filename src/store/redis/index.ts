export {
  createRedisStore,
  type IoRedisLike,
  type NodeRedisLike,
  type RedisSend,
  type RedisStore,
  type RedisStoreOptions,
} from './redis-store.js';
