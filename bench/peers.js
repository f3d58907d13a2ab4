// The implementations under comparison, each as `make(path) → { call(key) → allowed, async }`.
// `path` is 'allowed' (a limit never reached) or 'denied' (a limit of 1 per hour, spent before timing).
// Every implementation makes a real per-key decision and reads the clock itself, as in production.
import LocalStore from '@fastify/rate-limit/store/LocalStore.js';
import { MemoryStore } from 'express-rate-limit';
import { RateLimiter } from 'limiter';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { createDecisionBuffer, createLimiter, createMemoryStore, tokenBucket } from '../dist/index.js';

const HUGE = 1e9;

/**
 * What a middleware reads besides allow/deny (remaining, reset) goes here, so that no implementation's
 * work on those figures can be optimised away as unused.
 */
export const sink = { value: 0 };
const HOUR_MS = 3_600_000;

/** Rate (per hour) and capacity of the token bucket or window used on each path. */
const params = (path) =>
  path === 'allowed' ? { perHour: HUGE, capacity: HUGE } : { perHour: 1, capacity: 1 };

/** The practical floor: the smallest correct keyed token bucket one could write by hand. */
function floor(path) {
  const { perHour, capacity } = params(path);
  const perMs = perHour / HOUR_MS;
  const buckets = new Map();
  return {
    async: false,
    call(key) {
      const now = Date.now();
      let b = buckets.get(key);
      if (b === undefined) {
        b = { tokens: capacity, last: now };
        buckets.set(key, b);
      } else {
        b.tokens = Math.min(capacity, b.tokens + (now - b.last) * perMs);
        b.last = now;
      }
      const allowed = b.tokens >= 1;
      if (allowed) b.tokens -= 1;
      sink.value += b.tokens;
      return allowed;
    },
  };
}

/** sluice's limiter for a path: the same token bucket as the floor, on a memory store sized for 1M keys. */
function bucketLimiter(path) {
  const { perHour, capacity } = params(path);
  return createLimiter({
    limits: tokenBucket({ rate: perHour, per: '1h', burst: capacity }),
    store: createMemoryStore({ maxKeys: 2_000_000 }),
  });
}

/** Reads what a middleware would (remaining, reset, wait) and answers allow/deny. */
const read = (d) => {
  sink.value += d.remaining + d.resetAfterMs + d.retryAfterMs;
  return d.allowed;
};

function sluice(path) {
  const limiter = bucketLimiter(path);
  return { async: false, call: (key) => read(limiter.consumeSync(key)) };
}

function sluiceInto(path) {
  const limiter = bucketLimiter(path);
  const buffer = createDecisionBuffer();
  return { async: false, call: (key) => read(limiter.consumeInto(key, buffer)) };
}

function sluiceAsync(path) {
  const limiter = bucketLimiter(path);
  return { async: true, call: async (key) => read(await limiter.consume(key)) };
}

function rateLimiterFlexible(path) {
  const { capacity } = params(path);
  const limiter = new RateLimiterMemory({ points: capacity, duration: 3600 });
  return {
    async: true,
    call: (key) =>
      limiter.consume(key).then(
        (res) => {
          sink.value += res.remainingPoints + res.msBeforeNext;
          return true;
        },
        (res) => {
          sink.value += res.remainingPoints + res.msBeforeNext;
          return false;
        },
      ),
  };
}

function expressRateLimit(path) {
  const { capacity } = params(path);
  const store = new MemoryStore();
  store.init({ windowMs: HOUR_MS });
  // The store counts; the middleware compares with the limit. Both are timed here.
  return {
    async: true,
    async call(key) {
      const client = await store.increment(key);
      sink.value += client.totalHits + client.resetTime.getTime();
      return client.totalHits <= capacity;
    },
  };
}

function fastifyLocal(path, cache = 2_000_000) {
  const { capacity } = params(path);
  // Cache sized to hold every key: with the default (5000) the 100k-key runs would measure LRU eviction.
  const store = new LocalStore(false, false, cache);
  let allowed = false;
  const done = (_error, result) => {
    sink.value += result.current + result.ttl;
    allowed = result.current <= capacity;
  };
  return {
    async: false,
    call(key) {
      store.incr(key, done, HOUR_MS, capacity);
      return allowed;
    },
  };
}

function limiterPackage(path) {
  const { perHour, capacity } = params(path);
  // `limiter` has one bucket per instance; keyed use means a Map of instances, as its users write it.
  const buckets = new Map();
  return {
    async: false,
    call(key) {
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        bucket = new RateLimiter({ tokensPerInterval: Math.min(perHour, capacity), interval: 'hour' });
        buckets.set(key, bucket);
      }
      // tryRemoveTokens answers yes or no only; headers would need getTokensRemaining(), not timed here.
      return bucket.tryRemoveTokens(1);
    },
  };
}

/**
 * name → factory. Roles: 'sluice' (the zero-allocation path, held to the targets), 'sluice-sync' and
 * 'sluice-async' (the allocating and the promise paths, reported), 'floor', 'peer'.
 */
export const IMPLEMENTATIONS = [
  { name: 'sluice (consumeInto)', role: 'sluice', make: sluiceInto },
  { name: 'sluice (consumeSync)', role: 'sluice-sync', make: sluice },
  { name: 'sluice (await consume)', role: 'sluice-async', make: sluiceAsync },
  { name: 'hand-written Map floor', role: 'floor', make: floor },
  { name: '@fastify/rate-limit LocalStore', role: 'peer', make: fastifyLocal },
  { name: 'express-rate-limit MemoryStore', role: 'peer', make: expressRateLimit },
  { name: 'rate-limiter-flexible Memory', role: 'peer', make: rateLimiterFlexible },
  { name: 'limiter (Map of RateLimiter)', role: 'peer', make: limiterPackage },
];
