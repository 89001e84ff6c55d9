-- common.lua: the helpers the fenced scripts share. Not a script of its own.
--
-- Embedding (cmake/embed_lua.cmake): a script whose header holds the line
-- "-- prelude: common.lua" is embedded with this file's code in front of it,
-- joined onto the script's first line, which is always a comment. The
-- script's line numbers therefore stay those of its own .lua file: Redis's
-- "user_script:N" names line N of that file, and N = 1 means the error is in
-- this prelude. To join it, the build drops every comment line here and
-- joins the code lines with spaces, so the code below must keep three rules
-- (the build refuses a prelude that breaks one): no comment after code on a
-- line, no long bracket ("[[", "]]"), no line that starts with "(".
--
-- Conventions of every eos script: a partition's state keys come first, in
-- the order T:epoch, T:runs, T:base, and the epoch the caller holds travels
-- in ARGV. Numbers travel as canonical decimal strings (PRId64); Lua 5.1
-- compares them as doubles, exact below 2^53, far above any Kafka offset or
-- epoch.
--
-- The runs (T:runs, a sorted set): member "<from>/<to>/<sink>", score <to>:
-- `sink` is done for every offset from..to (inclusive). A sink's runs never
-- overlap, and a completion merges a new run with the runs it touches, so a
-- partition written by one worker keeps about one run per sink. Every run
-- lies at or above T:base: the trim drops the runs that end below it and
-- cuts the one that straddles it to start at it.
--
-- stale(ek, epoch)  true when the epoch key ek does not hold `epoch`: a
--                   newer owner INCR'd it, or the state was lost (then the
--                   owner must assign again before writing). A stale caller
--                   is fenced: the script writes nothing for it.
-- trim(rk, bk, t)   drops the runs of rk that end below t, cuts the runs
--                   that straddle t to start at t, and raises the base bk to
--                   t (never lowers it); returns the resulting base.
-- part(p, a)        the head of part p (0-based) of a completion: its keys
--                   are KEYS[3p+1..3p+3] (epoch, runs, base) and its ARGV
--                   start at a with epoch, trim, n. Returns its runs key,
--                   whether it is fenced, its base after the trim (-1 when
--                   fenced: nothing is trimmed) and n.
-- runs_of(rk, sink, lo, hi)  the runs of `sink` that end at or after lo - 1
--                   and start at or before hi + 1 (those that cover, or
--                   touch, an offset of lo..hi): three arrays from, to,
--                   member, in offset order. ONE ZRANGEBYSCORE.
-- A run is written with string.format('%d'), never tostring(): Lua 5.1 gives
-- 1e+14 for a large number.
-- covered(F, T, o)  true when a run of F/T (from runs_of) holds offset o.
-- add_runs(rk, sink, F, T, M, NF, NT)  adds the runs NF/NT (in offset
--                   order, disjoint from F/T and from each other) for sink,
--                   merged with each other and with the runs F/T/M they
--                   touch: at most ONE ZREM (the runs merged away) and ONE
--                   ZADD per CAP values.
local function stale(ek, epoch)
  local cur = tonumber(redis.call('GET', ek))
  return cur == nil or cur ~= tonumber(epoch)
end
local function trim(rk, bk, t)
  local base = tonumber(redis.call('GET', bk) or '-1')
  local tn = tonumber(t)
  if tn > base then
    redis.call('ZREMRANGEBYSCORE', rk, '-inf', '(' .. t)
    local r = redis.call('ZRANGEBYSCORE', rk, t, '+inf')
    for x = 1, #r do
      local f, e, s = string.match(r[x], '^(%-?%d+)/(%-?%d+)/(.*)$')
      if tonumber(f) < tn then
        redis.call('ZREM', rk, r[x])
        redis.call('ZADD', rk, e, t .. '/' .. e .. '/' .. s)
      end
    end
    redis.call('SET', bk, t)
    base = tn
  end
  return base
end
local function part(p, a)
  local ek, rk, bk = KEYS[3 * p + 1], KEYS[3 * p + 2], KEYS[3 * p + 3]
  local fenced = stale(ek, ARGV[a])
  local base = -1
  if not fenced then base = trim(rk, bk, ARGV[a + 1]) end
  return rk, fenced, base, tonumber(ARGV[a + 2])
end
local function runs_of(rk, sink, lo, hi)
  local F, T, M, k = {}, {}, {}, 0
  local r = redis.call('ZRANGEBYSCORE', rk, lo - 1, '+inf')
  for x = 1, #r do
    local f, e, s = string.match(r[x], '^(%-?%d+)/(%-?%d+)/(.*)$')
    f = tonumber(f)
    if s == sink and f <= hi + 1 then
      k = k + 1
      F[k], T[k], M[k] = f, tonumber(e), r[x]
    end
  end
  return F, T, M
end
local function covered(F, T, o)
  local l, h = 1, #T
  while l <= h do
    local mid = math.floor((l + h) / 2)
    if T[mid] < o then l = mid + 1
    elseif F[mid] > o then h = mid - 1
    else return true end
  end
  return false
end
local function add_runs(rk, sink, F, T, M, NF, NT)
  if #NF == 0 then return end
  local del, nd, z, nz = {}, 0, {}, 0
  local i, j = 1, 1
  local cf, ct, cold, cn = nil, nil, nil, 0
  local function close()
    if cn == 1 and cold then return end
    if cold then
      for x = 1, #cold do
        nd = nd + 1
        del[nd] = cold[x]
      end
    end
    z[nz + 1], z[nz + 2] = ct, string.format('%d/%d/%s', cf, ct, sink)
    nz = nz + 2
  end
  while i <= #F or j <= #NF do
    local f, t, m
    if j > #NF or (i <= #F and F[i] < NF[j]) then
      f, t, m = F[i], T[i], M[i]
      i = i + 1
    else
      f, t = NF[j], NT[j]
      j = j + 1
    end
    if cn > 0 and f == ct + 1 then
      ct = t
      cn = cn + 1
    else
      if cn > 0 then close() end
      cf, ct, cold, cn = f, t, nil, 1
    end
    if m then
      cold = cold or {}
      cold[#cold + 1] = m
    end
  end
  if cn > 0 then close() end
  for s = 1, nd, 1000 do
    redis.call('ZREM', rk, unpack(del, s, math.min(s + 999, nd)))
  end
  for s = 1, nz, 1000 do
    redis.call('ZADD', rk, unpack(z, s, math.min(s + 999, nz)))
  end
end
