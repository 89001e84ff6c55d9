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
-- The runs (T:runs, a sorted set, score <to>): a member is one of
--   "<from>/<to>/<sink>"          sink is done for every offset from..to
--   "<from>/<to>:<mask>/<sink>"   sink is done for the offsets o of from..to
--                                 whose bit is set in mask: byte
--                                 floor(o/8) - floor(from/8) + 1, bit o % 8
--                                 (1 = the lowest); exactly that many bytes,
--                                 raw, the bits outside from..to clear
-- A completion adds one member per part for the offsets it applied (more
-- only across gaps of more than 64 offsets, see mask_of): a run
-- when they are consecutive, else a masked run (a worker chunk in key
-- ordering holds the partition's offsets of its keys only). A run merges
-- with a run of the sink that ends just before it or starts just after it;
-- masked runs are not merged. Members of one sink never share an offset.
-- No member ends below T:base: the trim drops those. A member that straddles
-- the base is kept whole (cutting it would mean reading every member at each
-- trim); its offsets below the base count for nothing (everything below the
-- base is done), and a run merged with it starts at the base.
-- A member is written with string.format('%d'), never tostring(): Lua 5.1
-- gives 1e+14 for a large number.
--
-- stale(ek, epoch)  true when the epoch key ek does not hold `epoch`: a
--                   newer owner INCR'd it, or the state was lost (then the
--                   owner must assign again before writing). A stale caller
--                   is fenced: the script writes nothing for it.
-- unrun(m)          a member's from, to, mask (nil for a run) and sink.
-- has(f, t, k, o)   true when the member f, t, mask k holds offset o.
-- trim(rk, bk, t)   drops the members of rk that end below t (ONE
--                   ZREMRANGEBYSCORE) and raises the base bk to t (never
--                   lowers it); returns the resulting base.
-- part(p, a)        the head of part p (0-based) of a completion: its keys
--                   are KEYS[3p+1..3p+3] (epoch, runs, base) and its ARGV
--                   start at a with epoch, trim, n. Returns its runs key,
--                   whether it is fenced, its base after the trim (-1 when
--                   fenced: nothing is trimmed) and n.
-- runs_of(rk, sink, lo, hi)  the members of `sink` that end at or after
--                   lo - 1 and start at or before hi + 1 (those that hold,
--                   or touch, an offset of lo..hi): a list of {from, to,
--                   mask, member}. ONE ZRANGEBYSCORE.
-- meets(R, f, t, k) true when a member of R shares an offset with the
--                   member f, t, mask k: it jumps over the zero bytes of one
--                   mask with string.find (C speed), and ANDs the others.
-- mask_of(O, n)     the members for the n increasing offsets O: a list of
--                   {f, t, mask (nil when consecutive)}, one member unless
--                   two offsets lie more than 64 apart (a compacted topic):
--                   there the list is cut, so that no mask holds more than
--                   8 bytes per offset.
-- add_run(rk, sink, R, f, t, k, base)  adds the member f, t, mask k for
--                   sink (sharing no offset with R, from runs_of): a run
--                   merges with the runs of R it touches (one ZREM) and
--                   starts at base at the lowest, then ONE ZADD.
local function stale(ek, epoch)
  local cur = tonumber(redis.call('GET', ek))
  return cur == nil or cur ~= tonumber(epoch)
end
local function unrun(m)
  local _, e, f, t, c = string.find(m, '^(%d+)/(%d+)([/:])')
  f, t = tonumber(f), tonumber(t)
  if c == '/' then return f, t, nil, string.sub(m, e + 1) end
  local nb = math.floor(t / 8) - math.floor(f / 8) + 1
  return f, t, string.sub(m, e + 1, e + nb), string.sub(m, e + nb + 2)
end
local function has(f, t, k, o)
  if o < f or o > t then return false end
  if not k then return true end
  local x = string.byte(k, math.floor(o / 8) - math.floor(f / 8) + 1)
  return bit.band(x, bit.lshift(1, o % 8)) ~= 0
end
local function member(f, t, k, sink)
  if k then return string.format('%d/%d:', f, t) .. k .. '/' .. sink end
  return string.format('%d/%d/%s', f, t, sink)
end
local function trim(rk, bk, t)
  local base = tonumber(redis.call('GET', bk) or '-1')
  if tonumber(t) > base then
    redis.call('ZREMRANGEBYSCORE', rk, '-inf', '(' .. t)
    redis.call('SET', bk, t)
    base = tonumber(t)
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
  local R = {}
  local r = redis.call('ZRANGEBYSCORE', rk, lo - 1, '+inf')
  for x = 1, #r do
    local f, t, k, s = unrun(r[x])
    if s == sink and f <= hi + 1 then R[#R + 1] = {f, t, k, r[x]} end
  end
  return R
end
local function meets(R, f, t, k)
  for x = 1, #R do
    local g, u, q = R[x][1], R[x][2], R[x][3]
    local lo, hi = math.max(f, g), math.min(t, u)
    if lo <= hi then
      if not k and not q then return true end
      local bl, bh = math.floor(lo / 8), math.floor(hi / 8)
      local s, d, other, od = k, math.floor(f / 8) - 1, q, math.floor(g / 8) - 1
      if not k then s, d, other = q, od, nil end
      local i, last = bl - d, bh - d
      while true do
        i = string.find(s, '[^%z]', i)
        if not i or i > last then break end
        local b = i + d
        local v = string.byte(s, i)
        if other then v = bit.band(v, string.byte(other, b - od)) end
        if b == bl then v = bit.band(v, bit.lshift(255, lo % 8)) end
        if b == bh then v = bit.band(v, bit.rshift(255, 7 - hi % 8)) end
        if v ~= 0 then return true end
        i = i + 1
      end
    end
  end
  return false
end
local function mask_of(O, n)
  local P, s = {}, 1
  for e = 1, n do
    if e == n or O[e + 1] - O[e] > 64 then
      local f, t = O[s], O[e]
      if t - f == e - s then P[#P + 1] = {f, t, nil}
      else
        local bytes, b0, cur, v = {}, math.floor(f / 8), math.floor(f / 8), 0
        for i = s, e do
          local b = math.floor(O[i] / 8)
          while cur < b do
            bytes[cur - b0 + 1] = string.char(v)
            cur, v = cur + 1, 0
          end
          v = bit.bor(v, bit.lshift(1, O[i] % 8))
        end
        bytes[cur - b0 + 1] = string.char(v)
        P[#P + 1] = {f, t, table.concat(bytes)}
      end
      s = e + 1
    end
  end
  return P
end
local function add_run(rk, sink, R, f, t, k, base)
  if not k then
    local del = {}
    for x = 1, #R do
      if not R[x][3] and (R[x][2] == f - 1 or R[x][1] == t + 1) then
        del[#del + 1] = R[x][4]
        f, t = math.min(f, R[x][1]), math.max(t, R[x][2])
      end
    end
    if #del > 0 then redis.call('ZREM', rk, unpack(del)) end
    if f < base then f = base end
  end
  redis.call('ZADD', rk, t, member(f, t, k, sink))
end
