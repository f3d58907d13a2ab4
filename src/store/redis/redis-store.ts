import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { combine, type Decision, decision, type Outcome } from '../../core/decision.js';
import { ConfigError } from '../../core/errors.js';
import { capacityOf, type Limit } from '../../core/limits.js';
import {
  fail,
  integerAtLeast,
  knownKeys,
  nonEmptyString,
  nonNegativeMs,
  optionsObject,
  positiveNumber,
  cost as validCost,
  key as validKey,
  nowMs as validNow,
} from '../../internal/describe.js';
import type { AcquireResult, Check, Lease, Store } from '../types.js';
import {
  command,
  type IoRedisLike,
  type NodeRedisLike,
  type RedisSend,
  runScript,
  senderOf,
} from './client.js';
import { SCRIPTS, type Script } from './scripts.js';

export type { IoRedisLike, NodeRedisLike, RedisSend } from './client.js';

/**
 * Options of {@link createRedisStore}. Give exactly one of `client` and `send`.
 *
 * @example
 * ```ts
 * const options: RedisStoreOptions = { client: new Redis(), prefix: 'api-limits' };
 * ```
 */
export interface RedisStoreOptions {
  /** Your connected client: ioredis (`Redis`, `Cluster`) or node-redis (`createClient()`), or Valkey's. */
  client?: IoRedisLike | NodeRedisLike;
  /** Or a function that sends one command: for any other driver, or a node-redis cluster. */
  send?: RedisSend;
  /**
   * Namespace of every key the store writes.
   * @default 'sluice'
   */
  prefix?: string;
  /**
   * Whose clock decides: `'server'` reads Redis's `TIME` inside every script, so that application servers
   * with skewed clocks still agree; `'client'` (or a clock function) uses the caller's `nowMs`, else
   * `Date.now()` (or the function): for tests on a manual clock and for the shared test vectors.
   * @default 'server'
   */
  clock?: 'server' | 'client' | Clock;
  /**
   * Which part of a key is its Redis Cluster hash tag. All keys of one call must share a slot:
   * - `'store'`: one tag for the whole store, so any batch works; on a cluster, the store lives on one shard;
   * - `'key'`: the checked key, so keys spread over the cluster; a batch must then check a single key;
   * - a function of the key (e.g. the account part of `account:7:user:9`): batches must map to one tag.
   * A batch whose keys map to different tags is refused with a `ConfigError`, never sent.
   * @default 'store'
   */
  hashTag?: 'store' | 'key' | ((key: string) => string);
}

/**
 * The Redis store: every decision is one Lua script call (`EVALSHA`), atomic across all the checks of a
 * request, on Redis's clock by default. Wrap it with `createResilientStore` to choose what happens when
 * Redis is slow or down.
 *
 * @example
 * ```ts
 * const store: RedisStore = createRedisStore({ client: new Redis() });
 * store.scripts.consume; // the SHA1 the consume script runs under
 * ```
 */
export interface RedisStore extends Store {
  /** The SHA1 of each script, as Redis's script cache names them. */
  readonly scripts: { readonly consume: string; readonly lease: string; readonly gate: string };
  /** The Redis key holding the state of `key` under `limit`. */
  stateKey(limit: Limit, key: string): string;
  /** The Redis key (a sorted set) holding the concurrency leases of `key`. */
  leaseKey(key: string): string;
}

/**
 * With a client clock, Redis still expires keys on its own clock: TTLs get this much slack (ms), so that a
 * skew between the two never drops live state.
 */
const CLIENT_CLOCK_SLACK_MS = 60_000;

/** Characters that would break a key's parts apart, a hash tag, or a SCAN pattern. */
const SPECIAL = /[%{}:*?[\]\\]/;
const SPECIAL_ALL = /[%{}:*?[\]\\]/g;
const escapePart = (part: string): string =>
  SPECIAL.test(part)
    ? part.replace(SPECIAL_ALL, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)
    : part;

/** The script arguments of a limit (kind and three parameters), computed once per limit. */
const paramsCache = new WeakMap<Limit, readonly string[]>();
function paramsOf(limit: Limit): readonly string[] {
  let params = paramsCache.get(limit);
  if (params === undefined) {
    params =
      limit.kind === 'tokenBucket'
        ? ['t', String(limit.tokensPerMs), String(limit.intervalMs), String(limit.burst)]
        : [limit.kind === 'fixedWindow' ? 'f' : 's', String(limit.windowMs), String(limit.limit), '0'];
    paramsCache.set(limit, params);
  }
  return params;
}

/** Checks of one limit and key, merged: they spend the sum of their costs at once. */
interface Group {
  readonly limit: Limit;
  readonly key: string;
  cost: number;
}

const instanceTag = () => randomBytes(6).toString('base64url');

/**
 * Creates a Redis store on your own connected client. Nothing is loaded or written until the first call;
 * scripts are called by SHA1 and loaded on demand (`EVAL` once after a `NOSCRIPT`).
 *
 * Every key gets a TTL in the same script that writes it, so state disappears once it is equivalent to
 * none, and a crashed holder's leases free themselves. Configure your client so that a dead Redis fails
 * fast and nothing is resent after a reconnection (ioredis: `enableOfflineQueue: false`,
 * `autoResendUnfulfilledCommands: false`, `maxRetriesPerRequest: 0`; node-redis: `disableOfflineQueue:
 * true`), and wrap the store with `createResilientStore` for timeouts and a failure mode.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { createLimiter, tokenBucket } from 'sluice';
 * import { createRedisStore } from 'sluice/redis';
 *
 * // Never resend a call after an outage: it was already answered in degraded mode.
 * const redis = new Redis(process.env.REDIS_URL, {
 *   enableOfflineQueue: false,
 *   autoResendUnfulfilledCommands: false,
 *   maxRetriesPerRequest: 0,
 * });
 * const store = createRedisStore({ client: redis });
 * const limiter = createLimiter({ limits: tokenBucket({ rate: 10, per: '1s', burst: 60 }), store });
 * const outcome = await limiter.consume('api-user-9');
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const o = optionsObject('createRedisStore options', options);
  knownKeys('createRedisStore()', o, ['client', 'send', 'prefix', 'clock', 'hashTag']);
  const send = senderOf(o.client, o.send);
  const prefix = escapePart(nonEmptyString('prefix', o.prefix ?? 'sluice'));
  const clockOption = o.clock ?? 'server';
  if (clockOption !== 'server' && clockOption !== 'client' && typeof clockOption !== 'function') {
    fail('clock', "'server', 'client' or a function returning ms", clockOption);
  }
  const clientClock: Clock | undefined =
    clockOption === 'client'
      ? Date.now
      : typeof clockOption === 'function'
        ? (clockOption as Clock)
        : undefined;
  const slack = clientClock === undefined ? '0' : String(CLIENT_CLOCK_SLACK_MS);
  const hashTag = o.hashTag ?? 'store';
  if (hashTag !== 'store' && hashTag !== 'key' && typeof hashTag !== 'function') {
    fail('hashTag', "'store', 'key' or a function of the key", hashTag);
  }
  const tagOf = typeof hashTag === 'function' ? (hashTag as (key: string) => string) : undefined;

  /** The part of every Redis key of `key` up to the record type, hash tag included. */
  const subjectOf = (key: string): string => {
    // The empty key gets a token escaping never produces: `{}` would not be a hash tag at all.
    const subject = key === '' ? '%' : escapePart(key);
    if (hashTag === 'store') return `{${prefix}}:${subject}`;
    if (tagOf === undefined) return `${prefix}:{${subject}}`;
    const tag = tagOf(key);
    if (typeof tag !== 'string' || tag.length === 0)
      fail('hashTag', 'a function returning a non-empty string', tag);
    return `${prefix}:{${escapePart(tag)}}:${subject}`;
  };
  /** The slot-deciding part of a key of `key`: equal tags, same slot. */
  const tagKey = (key: string): string =>
    hashTag === 'store' ? '' : tagOf === undefined ? key : String(tagOf(key));
  const stateKey = (limit: Limit, key: string) => `${subjectOf(key)}:r:${limit.key}`;
  const leaseKey = (key: string) => `${subjectOf(key)}:c`;
  const gateKey = (key: string) => `${subjectOf(key)}:g`;
  /** The caller's time in client-clock mode (NaN: Redis's clock decides). */
  const now = (nowMs: number | undefined): number => {
    if (nowMs !== undefined) validNow(nowMs); // refused even when Redis's clock decides
    if (clientClock === undefined) return Number.NaN;
    if (nowMs !== undefined) return nowMs;
    const at = clientClock();
    if (typeof at !== 'number' || !Number.isFinite(at))
      fail('clock', 'a function returning a finite number of ms', at);
    return at;
  };
  const nowArg = (at: number): string => (Number.isNaN(at) ? '' : String(at));

  const run = (script: Script, args: string[]) => runScript(send, script, args);

  /** The decision of group `g` in a consume reply. */
  const decisionAt = (reply: unknown[], g: number, limit: Limit): Decision => {
    const retry = Number(reply[4 * g + 4]);
    return decision(
      Number(reply[4 * g + 1]) === 1,
      capacityOf(limit),
      Number(reply[4 * g + 2]),
      Number(reply[4 * g + 3]),
      retry === -1 ? Number.POSITIVE_INFINITY : retry,
    );
  };
  /** Stamps an outcome with its time: Redis's, in whole ms, or the caller's own (a reply truncates it). */
  const stamped = (outcome: Outcome, at: number, reply: unknown[]): Outcome => {
    (outcome as { atMs: number }).atMs = Number.isNaN(at) ? Number(reply[0]) : at;
    return outcome;
  };

  async function decide(checks: readonly Check[], nowMs: number | undefined, commit: string) {
    if (!Array.isArray(checks) || checks.length === 0) fail('checks', 'a non-empty array of checks', checks);
    if (checks.length === 1) {
      // The common case, without the grouping machinery.
      const { limit, key, cost = 1 } = validCheck(checks[0], 0);
      const subject = validKey(key);
      const units = cost === 1 ? '1' : String(validCost(cost ?? 1));
      const [kind, a, b, c] = paramsOf(limit);
      const at = now(nowMs);
      const args = ['EVALSHA', SCRIPTS.consume.sha, '1', stateKey(limit, subject)];
      args.push(commit, nowArg(at), kind!, a!, b!, c!, units);
      const reply = await run(SCRIPTS.consume, args);
      return stamped(decisionAt(reply, 0, limit) as Outcome, at, reply);
    }
    const groups: Group[] = [];
    const groupOf: number[] = new Array(checks.length);
    for (const [i, check] of checks.entries()) {
      validCheck(check, i);
      const cost = validCost(check.cost ?? 1);
      const key = validKey(check.key);
      let g = groups.findIndex((group) => group.limit.key === check.limit.key && group.key === key);
      if (g === -1) g = groups.push({ limit: check.limit, key, cost: 0 }) - 1;
      groups[g]!.cost += cost;
      groupOf[i] = g;
    }
    if (hashTag !== 'store') {
      const tag = tagKey(groups[0]!.key);
      for (const group of groups) {
        if (tagKey(group.key) !== tag) {
          throw new ConfigError(
            'hashTag',
            `The keys \`${groups[0]!.key}\` and \`${group.key}\` of one batch have different hash tags, so ` +
              "Redis Cluster could not check them atomically; use hashTag: 'store' or a function mapping them to one tag",
          );
        }
      }
    }
    const args = ['EVALSHA', SCRIPTS.consume.sha, String(groups.length)];
    for (const group of groups) args.push(stateKey(group.limit, group.key));
    const at = now(nowMs);
    args.push(commit, nowArg(at));
    for (const group of groups) args.push(...paramsOf(group.limit), String(group.cost));
    const reply = await run(SCRIPTS.consume, args);
    const decided = groups.map((group, g) => decisionAt(reply, g, group.limit));
    return stamped(combine(groupOf.map((g) => decided[g]!)), at, reply);
  }

  async function lease(key: string, op: string, nowMs: number | undefined, extra: string[]) {
    const args = ['EVALSHA', SCRIPTS.lease.sha, '1', leaseKey(key), op, nowArg(now(nowMs)), slack];
    return run(SCRIPTS.lease, [...args, ...extra]);
  }

  /** The gate script: `close` (extra: the wait) or `wait`; resolves the remaining wait in ms. */
  async function gate(op: 'close' | 'wait', key: string, nowMs: number | undefined, extra: string[]) {
    const args = ['EVALSHA', SCRIPTS.gate.sha, '1', gateKey(validKey(key)), op, nowArg(now(nowMs)), slack];
    return Number(await run(SCRIPTS.gate, [...args, ...extra]));
  }

  const tag = instanceTag();
  let sequence = 0;

  return {
    scripts: { consume: SCRIPTS.consume.sha, lease: SCRIPTS.lease.sha, gate: SCRIPTS.gate.sha },
    stateKey: (limit, key) => stateKey(limit, validKey(key)),
    leaseKey: (key) => leaseKey(validKey(key)),
    closeGate: async (key, waitMs, nowMs) =>
      gate('close', key, nowMs, [String(nonNegativeMs('waitMs', waitMs))]),
    gateWait: async (key, nowMs) => gate('wait', key, nowMs, []),
    consume: (checks, nowMs) => decide(checks, nowMs, '1'),
    peek: (checks, nowMs) => decide(checks, nowMs, '0'),
    async reset(key, limits) {
      validKey(key);
      if (limits !== undefined) {
        if (limits.length > 0) await command(send, ['DEL', ...limits.map((limit) => stateKey(limit, key))]);
        return;
      }
      // Every limit's state of the key, found by pattern: O(keyspace) on one node (pass `limits` for O(1)).
      const pattern = `${subjectOf(key)}:r:*`;
      let cursor = '0';
      do {
        const [next, found] = (await command(send, ['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'])) as [
          string,
          string[],
        ];
        if (found.length > 0) await command(send, ['DEL', ...found]);
        cursor = String(next);
      } while (cursor !== '0');
      await command(send, ['DEL', leaseKey(key)]);
    },
    async acquire(key, max, ttlMs, nowMs): Promise<AcquireResult> {
      validKey(key);
      integerAtLeast('max', max, 1);
      positiveNumber('ttlMs', ttlMs);
      const id = `${tag}${(++sequence).toString(36)}`;
      const reply = await lease(key, 'acquire', nowMs, [String(max), String(ttlMs), id]);
      const current = Number(reply[2]);
      if (Number(reply[1]) !== 1) return { acquired: false, current, max };
      return { acquired: true, lease: { key, id, expiresAtMs: Number(reply[0]) + ttlMs }, current, max };
    },
    async release(held, nowMs) {
      const reply = await lease(validLease(held).key, 'release', nowMs, [held.id]);
      return Number(reply[1]) === 1;
    },
    async renew(held, ttlMs, nowMs): Promise<Lease | undefined> {
      positiveNumber('ttlMs', ttlMs);
      const reply = await lease(validLease(held).key, 'renew', nowMs, [String(ttlMs), held.id]);
      if (Number(reply[1]) !== 1) return undefined;
      return { key: held.key, id: held.id, expiresAtMs: Number(reply[0]) + ttlMs };
    },
  };
}

/** A check whose limit was made by the limit factories: anything else is the caller's mistake, never I/O. */
function validCheck(check: Check | undefined, i: number): Check {
  const limit = (check as Check | undefined)?.limit;
  const fields = typeof limit === 'object' && limit !== null ? NUMBERS[limit.kind] : undefined;
  const numeric = (name: string) => {
    const value = (limit as unknown as Record<string, unknown>)[name];
    return typeof value === 'number' && Number.isFinite(value) && value > 0;
  };
  if (fields === undefined || typeof limit!.key !== 'string' || !fields.every(numeric))
    fail(`checks[${i}].limit`, 'a limit made by tokenBucket(), fixedWindow() or slidingWindow()', limit);
  return check!;
}
/** The parameters each kind of limit sends to the script. */
const NUMBERS: Record<string, readonly string[] | undefined> = {
  tokenBucket: ['tokensPerMs', 'intervalMs', 'burst'],
  fixedWindow: ['windowMs', 'limit'],
  slidingWindow: ['windowMs', 'limit'],
};

function validLease(lease: Lease): Lease {
  if (
    typeof lease !== 'object' ||
    lease === null ||
    typeof lease.key !== 'string' ||
    typeof lease.id !== 'string'
  )
    fail('lease', 'a lease returned by acquire()', lease);
  return lease;
}
