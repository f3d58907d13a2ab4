import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll } from 'vitest';
import { createManualClock } from '../../src/index.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { type RedisServer, redisAvailable, startRedisServer } from '../redis/harness.js';
import { describeStoreContract } from './store-contract.js';

// The same contract suite and vectors as the memory store, on a real redis-server, through both drivers.
// The store runs on a client clock here (the suite's manual clock); Redis's own clock is tested elsewhere.
let server: RedisServer | undefined;
const ensureServer = async () => {
  if (!redisAvailable()) return false;
  server ??= await startRedisServer();
  return true;
};
afterAll(async () => {
  await server?.stop();
});

let ioredis: Redis | undefined;
describeStoreContract({
  name: 'redis (ioredis)',
  setup: async () => {
    if (!(await ensureServer())) return false;
    ioredis = new Redis(server!.port, '127.0.0.1');
    return true;
  },
  teardown: async () => {
    ioredis?.disconnect();
  },
  create: async (startMs) => {
    const clock = createManualClock(startMs);
    return { store: createRedisStore({ client: ioredis!, clock: clock.now }), clock };
  },
});

let nodeRedis: ReturnType<typeof createClient> | undefined;
describeStoreContract({
  name: 'redis (node-redis)',
  setup: async () => {
    if (!(await ensureServer())) return false;
    nodeRedis = createClient({ url: server!.url });
    nodeRedis.on('error', () => {});
    await nodeRedis.connect();
    return true;
  },
  teardown: async () => {
    await nodeRedis?.quit();
  },
  create: async (startMs) => {
    const clock = createManualClock(startMs);
    return { store: createRedisStore({ client: nodeRedis!, clock: clock.now }), clock };
  },
});
