import { createHash } from 'node:crypto';

/**
 * The Lua scripts of the Redis store. They are the core algorithms (src/core/algorithms/) written again
 * with the very same float operations in the same order, so that both stores give identical decisions on
 * the shared test vectors: Redis's Lua numbers are IEEE doubles like JavaScript's, `math.fmod` is C's
 * `fmod` like JavaScript's `%`, and every number crosses the wire as a shortest round-trip string
 * (JavaScript `String(n)` in, `%.17g` out), never as a 14-digit `tostring`.
 */

/** Constants shared by the scripts: the tolerances of src/core/algorithms/kernel.ts and token-bucket.ts. */
const CONSTANTS = `
local EPS = 1e-9
local FLOAT_ERROR = 1e-15
local WAIT_ERROR = 1e-14
local floor, ceil, max, min, fmod = math.floor, math.ceil, math.max, math.min, math.fmod
`;

/**
 * consume / peek. KEYS: one state key per distinct limit and key of the batch.
 * ARGV: commit ('1' or '0'), now ('' for Redis TIME; a caller's time gets TTL slack), then 5 values per
 * group: kind (t, f, s), three parameters, cost.
 *   t (token bucket): tokensPerMs, intervalMs, burst
 *   f (fixed window), s (sliding window): windowMs, limit, unused
 * Returns: { now (whole ms), then per group: allowed (1/0), remaining, resetAfterMs, retryAfterMs (-1: never) }.
 *
 * A state is stored as packed doubles: the algorithm's (1 to 3) and then the end of the key's TTL on the
 * writer's clock. A write whose state expires before that keeps the TTL (SET KEEPTTL, half the cost of SET
 * PX); one that outlives it sets a TTL with headroom, so a busy key moves its TTL now and then rather than
 * at every request. A missing key, or a value without that last double, always gets a TTL.
 *
 * Written for speed, since Redis runs the whole chunk on every call: every function below is a closure
 * made anew per call, so there are few of them (the denied paths' helpers are made only when needed), no
 * dispatch tables, globals are read once, and states travel as plain values.
 */
export const CONSUME_SOURCE = `${CONSTANTS}
local call, tonumber, argv = redis.call, tonumber, ARGV
local unpack, pack = struct.unpack, struct.pack

local function whole(units, capacity, tol)
  if units > 0 then return floor(min(units + tol, capacity + EPS)) end
  return 0
end

local function ceilms(ms, tol)
  if ms > tol then return ceil(ms - tol) end
  return 0
end

-- The denied paths' helpers, made on first need.
local admits, settle
local function helpers()
  -- Whether a request of cost fits at time at, given the stored state (s1, s2, s3): the admission rules.
  admits = function(kind, a, b, c, s1, s2, s3, at, cost)
    if kind == 't' then
      local n = at * a
      local outstanding = 0
      if s1 > n then outstanding = s1 - n end
      return outstanding + cost <= c + EPS
    end
    local index = floor((at - fmod(at, a)) / a + 0.5)
    local current, previous = 0, 0
    if s1 == index then current = s2; previous = s3 elseif s1 == index - 1 then previous = s2 end
    if kind == 'f' then return current + cost <= b + EPS end
    return previous * (1 - fmod(at, a) / a) + current + cost <= b + EPS
  end
  -- The exact whole-ms wait: the analytic guess settled against the admission rule itself.
  settle = function(kind, a, b, c, s1, s2, s3, now, cost, guess)
    local wait = 1
    if guess > 1 then wait = ceil(guess - 1e-7) end
    local i = 0
    while i < 3 and not admits(kind, a, b, c, s1, s2, s3, now + wait, cost) do wait = wait + 1; i = i + 1 end
    i = 0
    while i < 3 and wait > 1 and admits(kind, a, b, c, s1, s2, s3, now + wait - 1, cost) do
      wait = wait - 1; i = i + 1
    end
    if admits(kind, a, b, c, s1, s2, s3, now + wait, cost)
      and (wait == 1 or not admits(kind, a, b, c, s1, s2, s3, now + wait - 1, cost)) then
      return wait
    end
    local low, high = 0, max(1, wait)
    while not admits(kind, a, b, c, s1, s2, s3, now + high, cost) do low = high; high = high * 2 end
    while high - low > 1 do
      local mid = floor((low + high) / 2)
      if admits(kind, a, b, c, s1, s2, s3, now + mid, cost) then high = mid else low = mid end
    end
    return high
  end
end

-- One limit's decision on state (s1, s2, s3) at now. Returns allowed (1/0), remaining, resetAfterMs,
-- retryAfterMs (-1: never), and the state after it (unchanged unless allowed with a positive cost).
local function decide(kind, a, b, c, s1, s2, s3, now, cost)
  if kind == 't' then
    -- Token bucket (GCRA): a = tokensPerMs, b = intervalMs, c = burst; s1 = TAT in emission intervals.
    local n = now * a
    local base = max(s1, n)
    local outstanding = base - n + cost
    local tol = n * FLOAT_ERROR + EPS
    if outstanding <= c + EPS then
      local tat = s1
      if cost > 0 then tat = base + cost end
      return 1, whole(c - outstanding, c, tol), ceilms(outstanding * b, tol * b), 0, tat, 0, 0
    end
    local retry = -1
    if cost <= c + EPS then
      if not admits then helpers() end
      local guess = (outstanding - c - EPS) * b
      retry = max(1, ceil(guess - now * WAIT_ERROR))
      if not admits(kind, a, b, c, s1, s2, s3, now + retry, cost) then
        retry = retry + 1
        if not admits(kind, a, b, c, s1, s2, s3, now + retry, cost) then
          retry = settle(kind, a, b, c, s1, s2, s3, now, cost, guess)
        end
      end
    end
    return 0, whole(c - (base - n), c, tol), ceilms((base - n) * b, tol * b), retry, s1, s2, s3
  end
  -- Windows: a = windowMs, b = limit; s1 = window index, s2 = its count, s3 = the previous window's count.
  local elapsed = fmod(now, a)
  local index = floor((now - elapsed) / a + 0.5)
  local current, previous = 0, 0
  if s1 == index then current = s2; previous = s3 elseif kind == 's' and s1 == index - 1 then previous = s2 end
  if kind == 'f' then
    local reset = ceilms(a - elapsed, EPS)
    if current + cost <= b + EPS then
      if cost > 0 then return 1, whole(b - current - cost, b, EPS), reset, 0, index, current + cost, 0 end
      return 1, whole(b - current - cost, b, EPS), reset, 0, s1, s2, s3
    end
    local retry = max(1, reset)
    if cost > b + EPS then retry = -1 end
    return 0, whole(b - current, b, EPS), reset, retry, s1, s2, s3
  end
  -- Sliding window counter: the previous window's count, weighted by how much of it the window still covers.
  local estimate = previous * (1 - elapsed / a) + current
  if estimate + cost <= b + EPS then
    local after = current + cost
    local reset = 0
    if after > 0 then reset = ceilms(2 * a - elapsed, EPS) elseif previous > 0 then reset = ceilms(a - elapsed, EPS) end
    local remaining = whole(b - estimate - cost, b, EPS)
    if cost > 0 then return 1, remaining, reset, 0, index, after, previous end
    return 1, remaining, reset, 0, s1, s2, s3
  end
  local reset = 0
  if current > 0 then reset = ceilms(2 * a - elapsed, EPS) elseif previous > 0 then reset = ceilms(a - elapsed, EPS) end
  local remaining = whole(b - estimate, b, EPS)
  if cost > b + EPS then return 0, remaining, reset, -1, s1, s2, s3 end
  local room = b + EPS - cost - current
  local guess
  if room >= 0 then
    guess = a * (1 - room / previous) - elapsed
  else
    guess = a - elapsed + a * (1 - (b + EPS - cost) / current)
  end
  if not settle then helpers() end
  return 0, remaining, reset, settle(kind, a, b, c, s1, s2, s3, now, cost, guess), s1, s2, s3
end

local commit = argv[1] == '1'
local now, slack
if argv[2] == '' then
  local t = call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
  slack = 0
else
  -- A caller's clock: Redis still expires keys on its own, so TTLs get a minute of slack for the skew.
  now = tonumber(argv[2])
  slack = 60000
end
local keys = KEYS
local groups = #keys

-- Encodes a group's new state for SET: with the key's TTL kept (px false) when the state (plus the slack
-- of a caller's clock) expires before the end of the key's TTL; otherwise with a new TTL that has headroom
-- (as long again, for a bucket whose TAT creeps on), so that a busy key moves its TTL now and then, not at
-- every request.
local function encode(kind, a, b, n1, n2, n3, deadline)
  local expires
  if kind == 't' then expires = n1 * b elseif kind == 'f' or n2 <= 0 then expires = (n1 + 1) * a else expires = (n1 + 2) * a end
  local px = false
  if expires + slack > deadline then
    if kind == 't' then expires = expires + (expires - now) end
    -- Capped (about 300 years), so that the number never prints in exponent form.
    px = min(max(1, ceil(expires - now)) + slack, 1e13)
    -- The end of the TTL on the writer's clock, slack included, so that writers with and without slack
    -- can share keys.
    deadline = now + px
  end
  if kind == 't' then return pack('<dd', n1, deadline), px end
  if kind == 'f' then return pack('<ddd', n1, n2, deadline), px end
  return pack('<dddd', n1, n2, n3, deadline), px
end

local function put(g, packed, px)
  if px then call('SET', keys[g], packed, 'PX', px) else call('SET', keys[g], packed, 'KEEPTTL') end
end

-- A group's stored state and the end of its key's TTL (zeros: no state). A key without a deadline (absent,
-- or written without one) gets NONE, so that its next write always sets a TTL.
local NONE = -math.huge
local function load(g, kind)
  local raw = call('GET', keys[g])
  if not raw then return 0, 0, 0, NONE end
  if kind == 't' then
    if #raw < 16 then return (unpack('<d', raw)), 0, 0, NONE end
    local s1, deadline = unpack('<dd', raw)
    return s1, 0, 0, deadline
  end
  if kind == 'f' then
    if #raw < 24 then
      local s1, s2 = unpack('<dd', raw)
      return s1, s2, 0, NONE
    end
    local s1, s2, deadline = unpack('<ddd', raw)
    return s1, s2, 0, deadline
  end
  if #raw < 32 then
    local s1, s2, s3 = unpack('<ddd', raw)
    return s1, s2, s3, NONE
  end
  local s1, s2, s3, deadline = unpack('<dddd', raw)
  return s1, s2, s3, deadline
end

-- A single group (the common case) is written as soon as it allows; a batch keeps each encoded state until
-- every group has allowed.
local out, held
if groups == 1 then out = { now, 0, 0, 0, 0 } else out = { now }; held = {} end
local allowed = true
for g = 1, groups do
  local at = 2 + (g - 1) * 5
  local kind = argv[at + 1]
  local a, b, c, cost = tonumber(argv[at + 2]), tonumber(argv[at + 3]), tonumber(argv[at + 4]), tonumber(argv[at + 5])
  local s1, s2, s3, deadline = load(g, kind)
  local ok, remaining, reset, retry, n1, n2, n3 = decide(kind, a, b, c, s1, s2, s3, now, cost)
  local o = (g - 1) * 4 + 2
  out[o], out[o + 1], out[o + 2], out[o + 3] = ok, remaining, reset, retry
  if ok == 0 then
    allowed = false
  elseif cost > 0 and commit and allowed then
    local packed, px = encode(kind, a, b, n1, n2, n3, deadline)
    if held then held[2 * g - 1], held[2 * g] = packed, px else put(g, packed, px) end
  end
end

if held and not allowed then
  -- Nothing is consumed: the limits that would have allowed report their untouched budget.
  for g = 1, groups do
    local o = (g - 1) * 4 + 2
    if out[o] == 1 then
      local at = 2 + (g - 1) * 5
      local kind = argv[at + 1]
      local s1, s2, s3 = load(g, kind)
      local _, remaining, reset, retry = decide(kind, tonumber(argv[at + 2]), tonumber(argv[at + 3]),
        tonumber(argv[at + 4]), s1, s2, s3, now, 0)
      out[o + 1], out[o + 2], out[o + 3] = remaining, reset, retry
    end
  end
elseif held then
  for g = 1, groups do
    if held[2 * g - 1] then put(g, held[2 * g - 1], held[2 * g]) end
  end
end
return out
`;

/**
 * Concurrency leases: one sorted set per key, lease id → expiry (ms on the store's clock).
 * KEYS: { the lease set }. ARGV: op ('acquire', 'release', 'renew'), now ('' for Redis TIME), key slack
 * (ms), then: acquire → max, ttlMs, id; release → id; renew → ttlMs, id.
 * Returns { now as a string, then: acquire → acquired (1/0), current; release → 1/0; renew → 1/0 }.
 */
export const LEASE_SOURCE = `${CONSTANTS}
local function clock(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end

-- Scores and TTLs as exact decimal strings (redis.call would print a number with 14 digits only).
local function fmt(x) return string.format('%.17g', x) end

local key = KEYS[1]
local op = ARGV[1]
local now = clock(ARGV[2])
local slack = tonumber(ARGV[3])

-- Keeps the set alive at least as long as its last lease, never shortening it.
local function keep(ttl, fresh)
  local ms = string.format('%.0f', min(max(1, ceil(ttl)) + slack, 1e13))
  if fresh then redis.call('PEXPIRE', key, ms) else redis.call('PEXPIRE', key, ms, 'GT') end
end

if op == 'acquire' then
  local most, ttl, id = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
  local current = redis.call('ZCARD', key)
  if current >= most then return { fmt(now), 0, current } end
  redis.call('ZADD', key, fmt(now + ttl), id)
  keep(ttl, current == 0)
  return { fmt(now), 1, current + 1 }
end

local id = ARGV[#ARGV]
local score = redis.call('ZSCORE', key, id)
if not score then return { fmt(now), 0 } end
if tonumber(score) <= now or op == 'release' then
  redis.call('ZREM', key, id)
  if tonumber(score) > now then return { fmt(now), 1 } end
  return { fmt(now), 0 }
end
local ttl = tonumber(ARGV[4])
redis.call('ZADD', key, 'XX', fmt(now + ttl), id)
keep(ttl, false)
return { fmt(now), 1 }
`;

/**
 * Gates (shared pauses): one string per key, holding the time until which it is closed (ms on the store's
 * clock), expiring then. KEYS: { the gate key }. ARGV: op ('close' or 'wait'), now ('' for Redis TIME),
 * key slack (ms), and for close the wait in ms. A gate only ever extends. Returns the remaining wait (ms,
 * a string, 0 when open).
 */
export const GATE_SOURCE = `
local floor, ceil, max, min = math.floor, math.ceil, math.max, math.min
local now
if ARGV[2] ~= '' then now = tonumber(ARGV[2]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end
local key = KEYS[1]
local closed = tonumber(redis.call('GET', key) or '0') or 0
if ARGV[1] == 'close' then
  local target = now + tonumber(ARGV[4])
  if target > closed then
    local ttl = string.format('%.0f', min(max(1, ceil(target - now)) + tonumber(ARGV[3]), 1e13))
    redis.call('SET', key, string.format('%.17g', target), 'PX', ttl)
    closed = target
  end
end
return string.format('%.17g', max(0, closed - now))
`;

/** A script and its SHA1, the name Redis caches it under. */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

/**
 * A script with its SHA1, for EVALSHA.
 *
 * @example
 * ```ts
 * const ping = scriptOf("return 'PONG'");
 * ```
 */
export const scriptOf = (source: string): Script => ({
  source,
  sha: createHash('sha1').update(source).digest('hex'),
});

/** The scripts, each loaded once per server and then called by SHA1. */
export const SCRIPTS = {
  consume: scriptOf(CONSUME_SOURCE),
  lease: scriptOf(LEASE_SOURCE),
  gate: scriptOf(GATE_SOURCE),
} as const;
