-- complete_uniform.lua: the lean form of complete.lua, same KEYS meaning and
-- the same results, for a call whose every part is uniform (eos/README.md,
-- "The protocol", Complete). Called by eos/state.c:kf_eos_state_complete,
-- which decides (uniform_part()).
-- prelude: common.lua
--
-- Uniform part: every item has exactly one write; within the part every
-- write has the same argv[0] (byte-equal), the same key argv[1] and the same
-- argc; the command is RPUSH, LPUSH, SADD, HDEL (argc >= 3) or HSET (argc >=
-- 4, even), in any case; the item offsets strictly increase. A part with no
-- items (a trim only) is uniform too.
--
-- KEYS  per part: T:epoch, T:done, T:base (3 * nparts keys), then the write
--       key of every part that has items, parts in order
-- ARGV  nparts, then per part: epoch, trim, n, and when n > 0:
--         cmd, m (= argc - 2 values per item),
--         2n pairs off_1, "off_1/sink", ..., off_n, "off_n/sink",
--         n * m values, item after item
--
-- The client formats the marks: no string work in Lua; per item the usual
-- path only copies the member for ZMSCORE, reads its score and sets the
-- status. Per part: stale -> n FENCED (3), nothing written, no trim.
-- Otherwise trim, then the items below base (a prefix, offsets increasing)
-- are SKIPPED (1); ONE ZMSCORE over the other members; when none is done (the
-- usual case): the writes are ONE `cmd key v..` straight from ARGV, and the
-- marks ONE ZADD done straight from the pair range; each is cut into calls
-- of at most CAP = 1000 values, the writes on item boundaries exactly where
-- complete.lua cuts a run (floor(998 / m) items per call), the ZADD on pair
-- boundaries. A write call that fails gives every item it carried the error
-- text and leaves them unmarked; items of the part's earlier or later write
-- calls that succeeded are APPLIED and marked (as complete.lua does with a
-- run). When some items are done (a replay) the writes of the others are
-- gathered into tables, cut the same way (slow path, rare).
-- Reply: one element per item, parts in order, as complete.lua.
local CAP = 1000
local nparts = tonumber(ARGV[1])
local a, kw = 2, 3 * nparts + 1
local out, no = {}, 0
for p = 0, nparts - 1 do
  local dk, fenced, base, n = part(p, a)
  a = a + 3
  if n > 0 then
    local cmd, m, key = ARGV[a], tonumber(ARGV[a + 1]), KEYS[kw]
    local ps = a + 2
    local vs = ps + 2 * n
    a, kw = vs + n * m, kw + 1
    if fenced then
      for i = 1, n do out[no + i] = 3 end
    else
      local nb = 0
      while nb < n and tonumber(ARGV[ps + 2 * nb]) < base do
        nb = nb + 1
        out[no + nb] = 1
      end
      local st, done, failed = {}, false, false
      local mem, nc = {}, n - nb
      for x = 1, nc do mem[x] = ARGV[ps + 2 * (nb + x) - 1] end
      for s = 1, nc, CAP do
        local e = math.min(s + CAP - 1, nc)
        local r = redis.call('ZMSCORE', dk, unpack(mem, s, e))
        for x = 1, e - s + 1 do
          if r[x] then
            st[nb + s + x - 1] = 1
            done = true
          end
        end
      end
      local per = math.max(1, math.floor((CAP - 2) / m))
      if not done then
        for s = nb + 1, n, per do
          local e = math.min(s + per - 1, n)
          local r = redis.pcall(cmd, key, unpack(ARGV, vs + (s - 1) * m, vs + e * m - 1))
          if type(r) == 'table' and r.err then
            local err = tostring(r.err)
            for i = s, e do st[i] = err end
            failed = true
          end
        end
      else
        local run, vals, rn, nv = {}, {}, 0, 0
        local function flush()
          if rn == 0 then return end
          local r = redis.pcall(cmd, key, unpack(vals, 1, nv))
          if type(r) == 'table' and r.err then
            local err = tostring(r.err)
            for x = 1, rn do st[run[x]] = err end
          end
          rn, nv = 0, 0
        end
        for i = nb + 1, n do
          if not st[i] then
            if rn == per then flush() end
            rn = rn + 1
            run[rn] = i
            local b = vs + (i - 1) * m
            for x = b, b + m - 1 do
              nv = nv + 1
              vals[nv] = ARGV[x]
            end
          end
        end
        flush()
      end
      if not done and not failed then
        local s0, e0 = ps + 2 * nb, ps + 2 * n - 1
        for s = s0, e0, CAP do
          redis.call('ZADD', dk, unpack(ARGV, s, math.min(s + CAP - 1, e0)))
        end
        for i = nb + 1, n do out[no + i] = 0 end
      else
        local z, zn = {}, 0
        for i = nb + 1, n do
          local v = st[i]
          if v == nil then
            z[zn + 1], z[zn + 2] = ARGV[ps + 2 * i - 2], ARGV[ps + 2 * i - 1]
            zn = zn + 2
            if zn >= CAP then
              redis.call('ZADD', dk, unpack(z, 1, zn))
              zn = 0
            end
            v = 0
          end
          out[no + i] = v
        end
        if zn > 0 then redis.call('ZADD', dk, unpack(z, 1, zn)) end
      end
    end
    no = no + n
  end
end
return out
