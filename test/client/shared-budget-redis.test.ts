import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScheduler } from '../../src/client/scheduler.js';
import { tokenBucket } from '../../src/core/limits.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { type RedisServer, redisAvailable, startRedisServer } from '../redis/harness.js';

// Schedulers sharing a budget in a real Redis, on Redis's own clock (TIME): the default in production.
describe.runIf(redisAvailable())('shared budget on a real Redis, on its clock', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.port, '127.0.0.1');
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('two schedulers draw from one token bucket: burst at once, then the rate; together never more', async () => {
    const store = createRedisStore({ client: redis });
    const limits = [tokenBucket({ rate: 20, per: '1s', burst: 3, name: `redis-clock-${Date.now()}` })];
    const [a, b] = [0, 1].map(() => createScheduler({ limits, budget: { store, key: 'two' } }));
    const starts: number[] = [];
    const t0 = performance.now();
    const task = async () => void starts.push(performance.now() - t0);
    await Promise.all([
      ...Array.from({ length: 5 }, () => a!.schedule(task)),
      ...Array.from({ length: 5 }, () => b!.schedule(task)),
    ]);
    starts.sort((x, y) => x - y);
    // 10 starts from a bucket of 3 refilling 20/s: the last no earlier than 7 × 50 ms (less 10 ms of rounding).
    expect(starts[9]!).toBeGreaterThanOrEqual(340);
    // In any span, at most 3 + span × 20/s starts (+1 for the two clocks' rounding).
    for (let i = 0; i < starts.length; i++)
      for (let j = i; j < starts.length; j++)
        expect(j - i + 1).toBeLessThanOrEqual(3 + 1 + Math.floor((starts[j]! - starts[i]!) / 50));
  });

  it("one scheduler's gate holds the other, through Redis", async () => {
    const store = createRedisStore({ client: redis });
    const key = `gate-${Date.now()}`;
    const [a, b] = [0, 1].map(() => createScheduler({ budget: { store, key } }));
    a!.closeGate(Date.now() + 300);
    await new Promise((r) => setTimeout(r, 20)); // the gate reaches Redis
    const t0 = performance.now();
    await b!.schedule(async () => undefined);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
  });
});
