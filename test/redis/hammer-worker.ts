// One of the OS processes of the distributed accuracy test (run with `node --import tsx`). It hammers the
// shared keys through its own Redis client until the deadline, then prints what it was admitted, as JSON.
// argv: port, start time (ms, Date.now), duration (ms), key suffix, in-flight calls per scenario.
import { Redis } from 'ioredis';
import { RedisStore as RateLimitRedisStore } from 'rate-limit-redis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createRedisStore } from '../../src/store/redis/index.js';
import { SCENARIOS, type WorkerReport } from './accuracy.js';

const [port, startAt, duration, suffix, inFlight] = process.argv
  .slice(2)
  .map((a, i) => (i === 3 ? a : Number(a))) as [number, number, number, string, number];
// No command may hang the test: a stuck reply fails the worker, with the error, long before vitest's timeout.
const client = new Redis(port, '127.0.0.1', { commandTimeout: 10_000 });
const store = createRedisStore({ client });

/** One decision: whether it was admitted and when (store time when known, else the client's receive time). */
type Attempt = () => Promise<{ allowed: boolean; atMs: number }>;

const attempts: Record<string, Attempt> = {};
for (const scenario of SCENARIOS) {
  const key = `accuracy-${suffix}`;
  if (scenario.kind === 'sluice') {
    const check = [{ limit: scenario.limit, key }];
    attempts[scenario.name] = async () => {
      const outcome = await store.consume(check);
      return { allowed: outcome.allowed, atMs: outcome.atMs! };
    };
  } else if (scenario.kind === 'rate-limiter-flexible') {
    const limiter = new RateLimiterRedis({
      storeClient: client,
      points: scenario.bound.limit,
      duration: scenario.bound.windowMs / 1000,
      keyPrefix: `rlf-${suffix}`,
    });
    attempts[scenario.name] = async () => {
      try {
        await limiter.consume(key);
        return { allowed: true, atMs: Date.now() };
      } catch (error) {
        if (error instanceof Error) throw error;
        return { allowed: false, atMs: Date.now() };
      }
    };
  } else {
    const peer = new RateLimitRedisStore({
      sendCommand: (...args: string[]) => client.call(...(args as [string])) as never,
      prefix: `rlr-${suffix}:`,
    });
    await peer.init({ windowMs: scenario.bound.windowMs } as never);
    attempts[scenario.name] = async () => {
      const { totalHits } = await peer.increment(key);
      return { allowed: totalHits <= scenario.bound.limit, atMs: Date.now() };
    };
  }
}

await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
const deadline = startAt + duration;
const report: WorkerReport = {};
await Promise.all(
  SCENARIOS.map(async ({ name }) => {
    const admitted: number[] = [];
    const tried: number[] = [];
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    let calls = 0;
    const loop = async () => {
      while (Date.now() < deadline) {
        const { allowed, atMs } = await attempts[name]!();
        calls++;
        if (atMs < first) first = atMs;
        if (atMs > last) last = atMs;
        tried.push(atMs);
        if (allowed) admitted.push(atMs);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, loop));
    report[name] = { admitted, attempts: tried, first, last, calls };
  }),
);
client.disconnect();
process.stdout.write(JSON.stringify(report));
