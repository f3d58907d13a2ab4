import { scriptOf as script } from '../store/redis/scripts.js';

/**
 * create. KEYS: records (hash id → record JSON), index (hash key-hash → identity JSON), the account's active
 * set, the account's zset of all its ids (score: createdAt), meta (hash: `hash` → algorithm).
 * ARGV: max (-1: none), id, key hash, record JSON, identity JSON, createdAt, algorithm.
 * Returns { 1, active } when inserted, { 0, active } at the maximum, { 2, algorithm } when the registry was
 * made with another hash setting, { 3 } when the id or the hash is taken.
 * The count and the insert are one script, so concurrent creates can never pass the maximum.
 *
 * @example
 * ```ts
 * await send(['EVAL', CREATE_SOURCE, '5', records, index, active, all, meta, '6', id, hash, record, identity, now, 'sha256']);
 * ```
 */
export const CREATE_SOURCE = `
local algorithm = redis.call('HGET', KEYS[5], 'hash')
if algorithm and algorithm ~= ARGV[7] then return { 2, algorithm } end
local max = tonumber(ARGV[1])
local active = redis.call('SCARD', KEYS[3])
if max >= 0 and active >= max then return { 0, active } end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then
  return { 3 }
end
if not algorithm then redis.call('HSET', KEYS[5], 'hash', ARGV[7]) end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[2])
return { 1, active + 1 }
`;

/**
 * revoke. KEYS: records, index, the account's active set, revoked (hash id → revokedAt).
 * ARGV: id, account, revokedAt. Returns 1 when revoked now, 0 for an unknown, foreign or revoked key.
 *
 * @example
 * ```ts
 * await send(['EVAL', REVOKE_SOURCE, '4', records, index, active, revoked, id, 'acme', String(Date.now())]);
 * ```
 */
export const REVOKE_SOURCE = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.account ~= ARGV[2] then return 0 end
if redis.call('HSETNX', KEYS[4], ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], record.hash)
redis.call('SREM', KEYS[3], ARGV[1])
return 1
`;

/**
 * list. KEYS: the account's zset of ids, records, revoked.
 * Returns, per key, oldest first: record JSON, revokedAt ('' while active).
 *
 * @example
 * ```ts
 * await send(['EVAL', LIST_SOURCE, '3', all, records, revoked]); // [record, '', record, '1700000000000']
 * ```
 */
export const LIST_SOURCE = `
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
end
return out
`;

/**
 * The key registry's scripts, each loaded once per server and then called by SHA1.
 *
 * @example
 * ```ts
 * await runScript(send, KEY_SCRIPTS.list, ['EVALSHA', KEY_SCRIPTS.list.sha, '3', all, records, revoked]);
 * ```
 */
export const KEY_SCRIPTS = {
  create: script(CREATE_SOURCE),
  revoke: script(REVOKE_SOURCE),
  list: script(LIST_SOURCE),
} as const;
