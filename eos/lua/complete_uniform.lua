-- complete_uniform.lua: the lean form of complete.lua, same KEYS meaning and
-- the same results, for a call whose every part is uniform (eos/README.md,
-- "The protocol", Complete). Called by eos/state.c:kf_eos_state_complete,
-- which decides (uniform_part()).
-- prelude: common.lua
--
-- Uniform part: every item has exactly one write; within the part every
-- write has the same argv[0] (byte-equal), the same key argv[1] and the same
-- argc; the command is RPUSH, LPUSH, SADD, HDEL (argc >= 3) or HSET (argc >=
-- 4, even), in any case; the item offsets strictly increase, none negative,
-- no two consecutive ones more than 64 apart (so that one member holds
-- them: common.lua's mask_of). A part with no items (a trim only) is
-- uniform too.
--
-- KEYS  per part: T:epoch, T:runs, T:base (3 * nparts keys), then the write
--       key of every part that has items, parts in order
-- ARGV  sink, nparts, then per part: epoch, trim, n, and when n > 0:
--         cmd, m (= argc - 2 values per item),
--         first, last, mask: the item offsets as the member fields of
--           common.lua (mask "" when they are consecutive, else the raw
--           mask with n bits set), so the offsets cost three arguments,
--           not one per record,
--         fresh: "1" when the caller knows no member of the sink holds any
--           of these offsets (eos/state.h, kf_eos_item.fresh), else "0",
--         n * m values, item after item
--
-- Per part: stale -> n FENCED (3), nothing written, no trim. Otherwise trim,
-- then ONE ZRANGEBYSCORE reads the sink's members that touch first..last
-- (runs_of); when none shares an offset with the part (meets(), over the
-- masks' nonzero bytes) and first >= base (the usual case): the writes are
-- ONE `cmd key v..` straight from ARGV, and the part's member, built by the
-- client, is added as it is (add_run: one ZADD, and one ZREM when a run
-- merges), so the marks cost a few calls per part, not per item. Writes are
-- cut into calls of at most CAP = 1000 values on item boundaries exactly
-- where complete.lua cuts a run (floor(998 / m) items per call). A write
-- call that fails gives every item it carried the error text and leaves
-- them unmarked; items of the part's earlier or later write calls that
-- succeeded are APPLIED and marked (as complete.lua does with a run). When
-- some items are below base or already done (a replay, an ambiguous reply
-- re-run), the offsets are decoded, those items SKIPPED (1), the writes of
-- the others gathered into tables, cut the same way, and the member built
-- from the offsets applied (slow path, rare).
-- A fresh part with first >= base takes the usual case without meets(): no
-- member can share an offset with it. A masked member merges with nothing,
-- so it skips runs_of too; a run still reads the runs it touches, to merge.
-- In key ordering a chunk's masked member spans the offsets of every other
-- worker's chunk, and meets() over all of their masks cost more than the
-- writes.
-- Reply: one element per item, parts in order, as complete.lua.
local CAP = 1000
local sink = ARGV[1]
local nparts = tonumber(ARGV[2])
local a, kw = 3, 3 * nparts + 1
local out, no = {}, 0
for p = 0, nparts - 1 do
  local rk, fenced, base, n = part(p, a)
  a = a + 3
  if n > 0 then
    local cmd, m, key = ARGV[a], tonumber(ARGV[a + 1]), KEYS[kw]
    local first, last, mask = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), ARGV[a + 4]
    if mask == '' then mask = nil end
    local fresh = ARGV[a + 5] == '1' and first >= base
    local vs = a + 6
    a, kw = vs + n * m, kw + 1
    if fenced then
      for i = 1, n do out[no + i] = 3 end
      no = no + n
    elseif last < base then
      for i = 1, n do out[no + i] = 1 end
      no = no + n
    else
      local R
      if fresh and mask then R = {} else R = runs_of(rk, sink, math.max(first, base), last) end
      local per = math.max(1, math.floor((CAP - 2) / m))
      local st, failed = {}, false
      if fresh or (first >= base and not meets(R, first, last, mask)) then
        for s = 1, n, per do
          local e = math.min(s + per - 1, n)
          local r = redis.pcall(cmd, key, unpack(ARGV, vs + (s - 1) * m, vs + e * m - 1))
          if type(r) == 'table' and r.err then
            local err = tostring(r.err)
            for i = s, e do st[i] = err end
            failed = true
          end
        end
        if not failed then
          add_run(rk, sink, R, first, last, mask, base)
          for i = 1, n do out[no + i] = 0 end
          no = no + n
        end
      else
        local O, i = {}, 0
        for o = first, last do
          if has(first, last, mask, o) then
            i = i + 1
            O[i] = o
            if o < base then st[i] = 1
            else
              for x = 1, #R do
                if has(R[x][1], R[x][2], R[x][3], o) then
                  st[i] = 1
                  break
                end
              end
            end
          end
        end
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
        for j = 1, n do
          if not st[j] then
            if rn == per then flush() end
            rn = rn + 1
            run[rn] = j
            local b = vs + (j - 1) * m
            for x = b, b + m - 1 do
              nv = nv + 1
              vals[nv] = ARGV[x]
            end
          end
        end
        flush()
        failed = true
        st.offs = O
      end
      if failed then
        local O = st.offs
        if not O then
          O = {}
          local i = 0
          for o = first, last do
            if has(first, last, mask, o) then
              i = i + 1
              O[i] = o
            end
          end
        end
        local A, na = {}, 0
        for j = 1, n do
          local v = st[j]
          if v == nil then
            na = na + 1
            A[na] = O[j]
            v = 0
          end
          out[no + j] = v
        end
        if na > 0 then
          for _, c in ipairs(mask_of(A, na)) do add_run(rk, sink, R, c[1], c[2], c[3], base) end
        end
        no = no + n
      end
    end
  end
end
return out
