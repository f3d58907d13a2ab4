import { createHash } from 'node:crypto';

/**
 * The Lua scripts of the Redis store. They are the core algorithms (src/core/algorithms/) written again
 * with the very same float operations in the same order, so that both stores give identical decisions on
 * the shared test vectors: Redis's Lua numbers are IEEE doubles like JavaScript's, `math.fmod` is C's
 * `fmod` like JavaScript's `%`, and every number crosses the wire as a shortest round-trip string
 * (JavaScript `String(n)` in, `%.17g` out), never as a 14-digit `tostring`.
 */

/** Helpers shared by the scripts: the clock, tolerances, and number formatting. */
const PRELUDE = `
local EPS = 1e-9
local FLOAT_ERROR = 1e-15
local WAIT_ERROR = 1e-14
local floor, ceil, max, min, fmod = math.floor, math.ceil, math.max, math.min, math.fmod

local function clock(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end

local function fmt(x) return string.format('%.17g', x) end
`;

/**
 * consume / peek. KEYS: one state key per distinct limit and key of the batch.
 * ARGV: commit ('1' or '0'), now ('' for Redis TIME), key slack (ms added to TTLs), then 5 values per
 * group: kind (t, f, s), three parameters, cost.
 *   t (token bucket): tokensPerMs, intervalMs, burst
 *   f (fixed window), s (sliding window): windowMs, limit, unused
 * Returns: { now as a string, then per group: allowed (1/0), remaining, resetAfterMs, retryAfterMs (-1 for
 * never) }.
 */
export const CONSUME_SOURCE = `${PRELUDE}
local function whole(units, capacity, tol)
  if units > 0 then return floor(min(units + tol, capacity + EPS)) end
  return 0
end

local function ceilms(ms, tol)
  if ms > tol then return ceil(ms - tol) end
  return 0
end

-- The exact whole-ms wait: the analytic guess settled against the admission rule itself.
local function settle(admits, p, s, now, cost, guess)
  local wait = 1
  if guess > 1 then wait = ceil(guess - 1e-7) end
  local i = 0
  while i < 3 and not admits(p, s, now + wait, cost) do wait = wait + 1; i = i + 1 end
  i = 0
  while i < 3 and wait > 1 and admits(p, s, now + wait - 1, cost) do wait = wait - 1; i = i + 1 end
  if admits(p, s, now + wait, cost) and (wait == 1 or not admits(p, s, now + wait - 1, cost)) then
    return wait
  end
  local low, high = 0, max(1, wait)
  while not admits(p, s, now + high, cost) do low = high; high = high * 2 end
  while high - low > 1 do
    local mid = floor((low + high) / 2)
    if admits(p, s, now + mid, cost) then high = mid else low = mid end
  end
  return high
end

-- Token bucket (GCRA), state { tat in emission intervals }.
local function tbAdmits(p, s, at, cost)
  local n = at * p[1]
  local outstanding = 0
  if s[1] > n then outstanding = s[1] - n end
  return outstanding + cost <= p[3] + EPS
end

local function tbStep(p, s, now, cost)
  local interval, burst = p[2], p[3]
  local n = now * p[1]
  local tat = s[1]
  local base = max(tat, n)
  local outstanding = base - n + cost
  local tol = n * FLOAT_ERROR + EPS
  if outstanding > burst + EPS then
    local retry = -1
    if cost <= burst + EPS then
      local guess = (outstanding - burst - EPS) * interval
      retry = max(1, ceil(guess - now * WAIT_ERROR))
      if not tbAdmits(p, s, now + retry, cost) then
        retry = retry + 1
        if not tbAdmits(p, s, now + retry, cost) then retry = settle(tbAdmits, p, s, now, cost, guess) end
      end
    end
    return 0, whole(burst - (base - n), burst, tol), ceilms((base - n) * interval, tol * interval), retry
  end
  if cost > 0 then s[1] = base + cost end
  return 1, whole(burst - outstanding, burst, tol), ceilms(outstanding * interval, tol * interval), 0
end

local function tbExpires(p, s) return s[1] * p[2] end

local function windowIndex(now, w)
  return floor((now - fmod(now, w)) / w + 0.5)
end

-- Fixed window, state { window index, count }.
local function fwAdmits(p, s, at, cost)
  local count = 0
  if s[1] == windowIndex(at, p[1]) then count = s[2] end
  return count + cost <= p[2] + EPS
end

local function fwStep(p, s, now, cost)
  local w, limit = p[1], p[2]
  local index = windowIndex(now, w)
  local count = 0
  if s[1] == index then count = s[2] end
  local reset = ceilms(w - fmod(now, w), EPS)
  if count + cost <= limit + EPS then
    if cost > 0 then s[1] = index; s[2] = count + cost end
    return 1, whole(limit - count - cost, limit, EPS), reset, 0
  end
  local retry = max(1, reset)
  if cost > limit + EPS then retry = -1 end
  return 0, whole(limit - count, limit, EPS), reset, retry
end

local function fwExpires(p, s) return (s[1] + 1) * p[1] end

-- Sliding window counter, state { window index, count, previous window's count }.
local function swLoad(p, s, now)
  local w = p[1]
  local index = windowIndex(now, w)
  local elapsed = fmod(now, w)
  local current, previous = 0, 0
  if s[1] == index then
    current = s[2]; previous = s[3]
  elseif s[1] == index - 1 then
    previous = s[2]
  end
  return previous * (1 - elapsed / w) + current, current, previous, index, elapsed
end

local function swResetAfter(w, count, previous, elapsed)
  if count > 0 then return ceilms(2 * w - elapsed, EPS) end
  if previous > 0 then return ceilms(w - elapsed, EPS) end
  return 0
end

local function swAdmits(p, s, at, cost)
  local estimate = swLoad(p, s, at)
  return estimate + cost <= p[2] + EPS
end

local function swStep(p, s, now, cost)
  local w, limit = p[1], p[2]
  local estimate, current, previous, index, elapsed = swLoad(p, s, now)
  if estimate + cost <= limit + EPS then
    local after = current + cost
    if cost > 0 then s[1] = index; s[2] = after; s[3] = previous end
    return 1, whole(limit - estimate - cost, limit, EPS), swResetAfter(w, after, previous, elapsed), 0
  end
  local reset = swResetAfter(w, current, previous, elapsed)
  local remaining = whole(limit - estimate, limit, EPS)
  if cost > limit + EPS then return 0, remaining, reset, -1 end
  local room = limit + EPS - cost - current
  local guess
  if room >= 0 then
    guess = w * (1 - room / previous) - elapsed
  else
    guess = w - elapsed + w * (1 - (limit + EPS - cost) / current)
  end
  return 0, remaining, reset, settle(swAdmits, p, s, now, cost, guess)
end

local function swExpires(p, s)
  if s[2] > 0 then return (s[1] + 2) * p[1] end
  return (s[1] + 1) * p[1]
end

local STEP = { t = tbStep, f = fwStep, s = swStep }
local EXPIRES = { t = tbExpires, f = fwExpires, s = swExpires }
local WIDTH = { t = 1, f = 2, s = 3 }
local FORMAT = { '<d', '<dd', '<ddd' }

local function load(key, width)
  local raw = redis.call('GET', key)
  if not raw then return { 0, 0, 0 } end
  local a, b, c = struct.unpack(FORMAT[width], raw)
  if width == 1 then return { a, 0, 0 } end
  if width == 2 then return { a, b, 0 } end
  return { a, b, c }
end

local commit = ARGV[1] == '1'
local now = clock(ARGV[2])
local slack = tonumber(ARGV[3])
local groups = #KEYS
local out = { fmt(now) }
local params, states, stored = {}, {}, {}
local allowed = true
for g = 1, groups do
  local at = 3 + (g - 1) * 5
  local kind = ARGV[at + 1]
  local p = { tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5]) }
  local s = load(KEYS[g], WIDTH[kind])
  params[g] = p
  stored[g] = { s[1], s[2], s[3] }
  states[g] = s
  local ok, remaining, reset, retry = STEP[kind](p, s, now, p[4])
  if ok == 0 then allowed = false end
  local o = (g - 1) * 4 + 2
  out[o], out[o + 1], out[o + 2], out[o + 3] = ok, remaining, reset, retry
end

if not allowed then
  -- Nothing is consumed: the limits that would have allowed report their untouched budget.
  for g = 1, groups do
    local o = (g - 1) * 4 + 2
    if out[o] == 1 then
      local kind = ARGV[3 + (g - 1) * 5 + 1]
      local _, remaining, reset, retry = STEP[kind](params[g], stored[g], now, 0)
      out[o + 1], out[o + 2], out[o + 3] = remaining, reset, retry
    end
  end
elseif commit then
  for g = 1, groups do
    local p = params[g]
    if p[4] > 0 then
      local kind = ARGV[3 + (g - 1) * 5 + 1]
      local width = WIDTH[kind]
      local s = states[g]
      local ttl = max(1, ceil(EXPIRES[kind](p, s) - now)) + slack
      redis.call('SET', KEYS[g], struct.pack(FORMAT[width], s[1], s[2], s[3]), 'PX', fmt(ttl))
    end
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
export const LEASE_SOURCE = `${PRELUDE}
local key = KEYS[1]
local op = ARGV[1]
local now = clock(ARGV[2])
local slack = tonumber(ARGV[3])

-- Keeps the set alive at least as long as its last lease, never shortening it.
local function keep(ttl, fresh)
  local ms = fmt(max(1, ceil(ttl)) + slack)
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
