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
 * ARGV: commit ('1' or '0'), now ('' for Redis TIME), key slack (ms added to TTLs), then 5 values per
 * group: kind (t, f, s), three parameters, cost.
 *   t (token bucket): tokensPerMs, intervalMs, burst
 *   f (fixed window), s (sliding window): windowMs, limit, unused
 * Returns: { now (whole ms), then per group: allowed (1/0), remaining, resetAfterMs, retryAfterMs (-1: never) }.
 *
 * Written for speed, since Redis runs the whole chunk on every call: every function below is a closure
 * made anew per call, so there are few of them, no dispatch tables, and states travel as plain values.
 */
export const CONSUME_SOURCE = `${CONSTANTS}
local function whole(units, capacity, tol)
  if units > 0 then return floor(min(units + tol, capacity + EPS)) end
  return 0
end

local function ceilms(ms, tol)
  if ms > tol then return ceil(ms - tol) end
  return 0
end

local function windowIndex(at, w)
  return floor((at - fmod(at, w)) / w + 0.5)
end

-- Whether a request of cost fits at time at, given the stored state (s1, s2, s3): the admission rules.
local function admits(kind, a, b, c, s1, s2, s3, at, cost)
  if kind == 't' then
    local n = at * a
    local outstanding = 0
    if s1 > n then outstanding = s1 - n end
    return outstanding + cost <= c + EPS
  end
  local index = windowIndex(at, a)
  local current, previous = 0, 0
  if s1 == index then current = s2; previous = s3 elseif s1 == index - 1 then previous = s2 end
  if kind == 'f' then return current + cost <= b + EPS end
  return previous * (1 - fmod(at, a) / a) + current + cost <= b + EPS
end

-- The exact whole-ms wait: the analytic guess settled against the admission rule itself.
local function settle(kind, a, b, c, s1, s2, s3, now, cost, guess)
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
  local index = windowIndex(now, a)
  local elapsed = fmod(now, a)
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
  return 0, remaining, reset, settle(kind, a, b, c, s1, s2, s3, now, cost, guess), s1, s2, s3
end

local commit = ARGV[1] == '1'
local now
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[2])
end
local slack = tonumber(ARGV[3])
local groups = #KEYS

local function write(g, kind, n1, n2, n3, ttl)
  local packed
  if kind == 't' then packed = struct.pack('<d', n1)
  elseif kind == 'f' then packed = struct.pack('<dd', n1, n2)
  else packed = struct.pack('<ddd', n1, n2, n3) end
  redis.call('SET', KEYS[g], packed, 'PX', ttl)
end

-- A single group (the common case) commits as soon as it allows; a batch keeps, per group, the state it
-- read (3 values), the state to write (3 values) and its TTL (0: nothing to write), until all have allowed.
local out, held
if groups == 1 then out = { now, 0, 0, 0, 0 } else out = { now }; held = {} end
local allowed = true
for g = 1, groups do
  local at = 3 + (g - 1) * 5
  local kind = ARGV[at + 1]
  local a, b, c, cost = tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5])
  local s1, s2, s3 = 0, 0, 0
  local raw = redis.call('GET', KEYS[g])
  if raw then
    if kind == 't' then s1 = struct.unpack('<d', raw)
    elseif kind == 'f' then s1, s2 = struct.unpack('<dd', raw)
    else s1, s2, s3 = struct.unpack('<ddd', raw) end
  end
  local ok, remaining, reset, retry, n1, n2, n3 = decide(kind, a, b, c, s1, s2, s3, now, cost)
  local o = (g - 1) * 4 + 2
  out[o], out[o + 1], out[o + 2], out[o + 3] = ok, remaining, reset, retry
  local ttl = 0
  if ok == 0 then
    allowed = false
  elseif cost > 0 and commit then
    -- When the new state becomes equivalent to no state.
    local expires
    if kind == 't' then expires = n1 * b elseif kind == 'f' or n2 <= 0 then expires = (n1 + 1) * a else expires = (n1 + 2) * a end
    -- Capped (about 300 years), so that the number never prints in exponent form.
    ttl = min(max(1, ceil(expires - now)) + slack, 1e13)
    if groups == 1 then write(g, kind, n1, n2, n3, ttl) end
  end
  if held then
    local h = (g - 1) * 7
    held[h + 1], held[h + 2], held[h + 3], held[h + 4], held[h + 5], held[h + 6], held[h + 7] = s1, s2, s3, n1, n2, n3, ttl
  end
end

if held and not allowed then
  -- Nothing is consumed: the limits that would have allowed report their untouched budget.
  for g = 1, groups do
    local o = (g - 1) * 4 + 2
    if out[o] == 1 then
      local at = 3 + (g - 1) * 5
      local h = (g - 1) * 7
      local _, remaining, reset, retry = decide(ARGV[at + 1], tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]),
        tonumber(ARGV[at + 4]), held[h + 1], held[h + 2], held[h + 3], now, 0)
      out[o + 1], out[o + 2], out[o + 3] = remaining, reset, retry
    end
  end
elseif held then
  for g = 1, groups do
    local h = (g - 1) * 7
    if held[h + 7] > 0 then write(g, ARGV[3 + (g - 1) * 5 + 1], held[h + 4], held[h + 5], held[h + 6], held[h + 7]) end
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

/** A script and its SHA1, the name Redis caches it under. */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

const script = (source: string): Script => ({
  source,
  sha: createHash('sha1').update(source).digest('hex'),
});

/** The scripts, each loaded once per server and then called by SHA1. */
export const SCRIPTS = {
  consume: script(CONSUME_SOURCE),
  lease: script(LEASE_SOURCE),
} as const;
