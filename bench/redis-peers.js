// The Redis implementations under comparison. Each is `{ name, role, scenarios, make(ctx, limits) }`, where
// `limits` is 1 or 3 and `make` resolves `call(key) → Promise<allowed>`. Every call is one real decision
// for one request, read as a middleware would (allowed, remaining, reset) into `sink`.
import { Redis } from 'ioredis';
import { RedisStore } from 'rate-limit-redis';
import { RateLimiterRedis, RateLimiterUnion } from 'rate-limiter-flexible';
import { fixedWindow, slidingWindow, tokenBucket } from '../dist/index.js';
import { createRedisStore } from '../dist/store/redis/index.js';
import { sink } from './peers.js';

const HOUR_MS = 3_600_000;
/** Far above what a run can spend per key: every decision is allowed (and checked to be). */
const HUGE = 1e9;

/**
 * The limits of a request. The bucket refills at 1 per hour and each decision keeps its key alive for an
 * hour more, so state outlives the gap between two visits of a key (the keys are used round-robin): after
 * the warm-up every decision reads and writes real state, as on a busy API, and never meets an expired key.
 */
const BUCKET = tokenBucket({ rate: 1, per: '1h', burst: HUGE, name: 'bench-bucket' });
const LIMITS = [
  BUCKET,
  fixedWindow({ limit: HUGE, window: '1h', name: 'bench-fixed' }),
  slidingWindow({ limit: HUGE, window: '1h', name: 'bench-sliding' }),
];

/**
 * The floor: the smallest correct keyed token bucket in Lua. GET the state, refill, SET it back with PX
 * (the time until the bucket is full again). Over several keys, all of them are checked first and spent
 * only if all allow, as sluice does. The clock is the caller's (ARGV[1]), the cheapest choice.
 */
export const FLOOR_SCRIPT = `local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, out = {}, { 1 }
for i = 1, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  local t = burst
  if raw then
    local held, last = struct.unpack('<dd', raw)
    t = math.min(burst, held + (now - last) * rate)
  end
  if t < 1 then out[1] = 0 end
  tokens[i] = t
  out[i + 1] = math.floor(t)
end
if out[1] == 1 then
  for i = 1, #KEYS do
    local t = tokens[i] - 1
    redis.call('SET', KEYS[i], struct.pack('<dd', t, now), 'PX', math.ceil((burst - t) / rate))
    out[i + 1] = math.floor(t)
  end
end
return out`;

async function floor({ ioredis }, limits) {
  const sha = await ioredis.script('LOAD', FLOOR_SCRIPT);
  const rate = String(BUCKET.tokensPerMs);
  const burst = String(HUGE);
  const read = (reply) => {
    sink.value += reply[1];
    return reply[0] === 1;
  };
  if (limits === 1) {
    return (key) => ioredis.evalsha(sha, 1, `floor:${key}`, String(Date.now()), rate, burst).then(read);
  }
  return (key) =>
    ioredis
      .evalsha(sha, 3, `floor:a:${key}`, `floor:b:${key}`, `floor:c:${key}`, String(Date.now()), rate, burst)
      .then(read);
}

const readOutcome = (outcome) => {
  sink.value += outcome.remaining + outcome.resetAfterMs + outcome.retryAfterMs;
  return outcome.allowed;
};

function sluiceOn(client, limits, clock = 'server') {
  const store = createRedisStore({ client, clock });
  if (limits === 1) return (key) => store.consume([{ limit: BUCKET, key }]).then(readOutcome);
  return (key) =>
    store
      .consume([
        { limit: LIMITS[0], key },
        { limit: LIMITS[1], key },
        { limit: LIMITS[2], key },
      ])
      .then(readOutcome);
}

const rlfAllowed = (res) => {
  sink.value += res.remainingPoints + res.msBeforeNext;
  return true;
};
const rlfDenied = (rejection) => {
  // A rejection is a RateLimiterRes (over the limit), a map of them (a union), or a Redis error.
  if (rejection instanceof Error) throw rejection;
  return false;
};

function rateLimiterFlexible({ ioredis }, limits) {
  const limiter = (keyPrefix, duration) =>
    new RateLimiterRedis({ storeClient: ioredis, keyPrefix, points: HUGE, duration });
  if (limits === 1) {
    const one = limiter('rlf', 3600);
    return (key) => one.consume(key).then(rlfAllowed, rlfDenied);
  }
  // Three limits on one key: RateLimiterUnion, the library's own way to combine limiters. It consumes all
  // three at once (three EVALSHAs in parallel, not atomic: a denial does not give back the others' points).
  const union = new RateLimiterUnion(limiter('rlf-a', 60), limiter('rlf-b', 3600), limiter('rlf-c', 86_400));
  return (key) =>
    union.consume(key).then((byPrefix) => {
      for (const res of Object.values(byPrefix)) sink.value += res.remainingPoints + res.msBeforeNext;
      return true;
    }, rlfDenied);
}

async function rateLimitRedis({ ioredis }) {
  const store = new RedisStore({ sendCommand: (...args) => ioredis.call(...args), prefix: 'rlr:' });
  await store.init({ windowMs: HOUR_MS });
  // The store counts; express-rate-limit's middleware compares the count with the limit.
  return (key) =>
    store.increment(key).then(({ totalHits, resetTime }) => {
      sink.value += totalHits + resetTime.getTime();
      return totalHits <= HUGE;
    });
}

/** Scenarios, as `${inFlight}/${limits}`. */
export const ALL = ['1/1', '64/1', '64/3', '1/3'];

/** name → implementation. Roles: 'floor', 'sluice' (held to the targets), 'sluice-alt', 'peer'. */
export const REDIS_IMPLEMENTATIONS = [
  { name: 'floor (Lua, raw EVALSHA)', role: 'floor', scenarios: ALL, make: floor },
  {
    name: 'sluice (ioredis)',
    role: 'sluice',
    scenarios: ALL,
    make: ({ ioredis }, limits) => sluiceOn(ioredis, limits),
  },
  {
    // Like for like with the floor, which also takes the time from the caller.
    name: 'sluice (client clock)',
    role: 'sluice-alt',
    scenarios: ['64/1', '64/3'],
    make: ({ ioredis }, limits) => sluiceOn(ioredis, limits, 'client'),
  },
  {
    name: 'sluice (node-redis)',
    role: 'sluice-alt',
    scenarios: ['64/1'],
    make: ({ nodeRedis }, limits) => sluiceOn(nodeRedis, limits),
  },
  { name: 'rate-limiter-flexible Redis', role: 'peer', scenarios: ALL, make: rateLimiterFlexible },
  { name: 'rate-limit-redis', role: 'peer', scenarios: ['1/1', '64/1'], make: rateLimitRedis },
];

/** Connected clients for the implementations: one ioredis and one node-redis, both with default options. */
export async function connectClients(port) {
  const ioredis = new Redis(port, '127.0.0.1');
  const { createClient } = await import('redis');
  const nodeRedis = await createClient({ socket: { host: '127.0.0.1', port } }).connect();
  await ioredis.ping();
  return {
    ioredis,
    nodeRedis,
    async close() {
      ioredis.disconnect();
      await nodeRedis.close();
    },
  };
}
