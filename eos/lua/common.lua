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
-- the order T:epoch, T:done, T:base, and the epoch the caller holds travels
-- in ARGV. Numbers travel as canonical decimal strings (PRId64); Lua 5.1
-- compares them as doubles, exact below 2^53, far above any Kafka offset or
-- epoch.
--
-- stale(ek, epoch)  true when the epoch key ek does not hold `epoch`: a
--                   newer owner INCR'd it, or the state was lost (then the
--                   owner must assign again before writing). A stale caller
--                   is fenced: the script writes nothing for it.
-- trim(dk, bk, t)   removes the entries of the done set dk with offset < t
--                   and raises the base bk to t (never lowers it); returns
--                   the resulting base.
-- part(p, a)        the head of part p (0-based) of a completion: its keys
--                   are KEYS[3p+1..3p+3] (epoch, done, base) and its ARGV
--                   start at a with epoch, trim, n. Returns its done key,
--                   whether it is fenced, its base after the trim (-1 when
--                   fenced: nothing is trimmed) and n.
local function stale(ek, epoch)
  local cur = tonumber(redis.call('GET', ek))
  return cur == nil or cur ~= tonumber(epoch)
end
local function trim(dk, bk, t)
  local base = tonumber(redis.call('GET', bk) or '-1')
  if tonumber(t) > base then
    redis.call('ZREMRANGEBYSCORE', dk, '-inf', '(' .. t)
    redis.call('SET', bk, t)
    base = tonumber(t)
  end
  return base
end
local function part(p, a)
  local ek, dk, bk = KEYS[3 * p + 1], KEYS[3 * p + 2], KEYS[3 * p + 3]
  local fenced = stale(ek, ARGV[a])
  local base = -1
  if not fenced then base = trim(dk, bk, ARGV[a + 1]) end
  return dk, fenced, base, tonumber(ARGV[a + 2])
end
