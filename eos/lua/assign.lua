-- assign.lua: a new owner takes a partition (eos/README.md, "The protocol",
-- Assign). Called by eos/state.c:kf_eos_state_assign_owned.
-- prelude: common.lua
--
-- KEYS  [1] T:epoch  [2] T:runs  [3] T:base  [4] T:owner  [5] T:done (the
--       marks of kfleet before runs, one sorted-set member per record)
-- ARGV  [1] the caller's transactional.id, or "" to record no holder
--
-- Effects: INCR T:epoch; the result is the caller's fencing token, and every
-- later script called with a lower epoch is fenced. When ARGV[1] is not "",
-- SET T:owner ARGV[1]: the caller holds the partition until trim.lua
-- releases it.
-- Upgrade: when T:done exists (members "<offset>/<sink>", score offset,
-- written by a kfleet that kept one mark per record), its marks at or above
-- T:base become runs: merged per sink with T:runs into maximal runs of
-- consecutive offsets, T:runs rewritten with them and T:done deleted, in
-- this script. The INCR above fences the old owner, so no old-format mark
-- can be added after; nothing marked in either form is redone.
-- Reply: {epoch, base, runs, holder}
--   epoch    the new T:epoch (an integer)
--   base     T:base, "-1" when the partition was never trimmed
--   runs     the sinks already done above the committed watermark, as
--            runs "<from>/<to>/<sink>" (to inclusive): the runs of
--            consecutive offsets at or above base that each T:runs member
--            holds
--   holder   T:owner as it was before this call, "" when none: a holder that
--            did not release the partition (a zombie, a crash)
local e = redis.call('INCR', KEYS[1])
local b = redis.call('GET', KEYS[3])
local prev = redis.call('GET', KEYS[4]) or ''
if ARGV[1] ~= '' then redis.call('SET', KEYS[4], ARGV[1]) end
if redis.call('EXISTS', KEYS[5]) == 1 then
  local base = tonumber(b or '-1')
  local iv = {}
  local function add(s, f, t)
    if t < base then return end
    if f < base then f = base end
    iv[s] = iv[s] or {}
    local l = iv[s]
    l[#l + 1] = {f, t}
  end
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local f, t, k, s = unrun(m)
    local r = nil
    for o = f, t + 1 do
      if o <= t and has(f, t, k, o) then r = r or o
      elseif r then
        add(s, r, o - 1)
        r = nil
      end
    end
  end
  for _, m in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
    local o, s = string.match(m, '^(%-?%d+)/(.*)$')
    if o then add(s, tonumber(o), tonumber(o)) end
  end
  redis.call('DEL', KEYS[2], KEYS[5])
  for s, l in pairs(iv) do
    table.sort(l, function(x, y) return x[1] < y[1] end)
    local z, f, t = {}, l[1][1], l[1][2]
    for x = 2, #l + 1 do
      local r = l[x]
      if r and r[1] <= t + 1 then
        if r[2] > t then t = r[2] end
      else
        z[#z + 1] = t
        z[#z + 1] = member(f, t, nil, s)
        if #z >= 1000 then
          redis.call('ZADD', KEYS[2], unpack(z))
          z = {}
        end
        if r then f, t = r[1], r[2] end
      end
    end
    if #z > 0 then redis.call('ZADD', KEYS[2], unpack(z)) end
  end
end
local runs, lo = {}, tonumber(b or '-1')
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local f, t, k, s = unrun(m)
  local r = nil
  for o = math.max(f, lo), t + 1 do
    if o <= t and has(f, t, k, o) then r = r or o
    elseif r then
      runs[#runs + 1] = member(r, o - 1, nil, s)
      r = nil
    end
  end
end
return {e, b or '-1', runs, prev}
