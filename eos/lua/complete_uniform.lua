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
-- KEYS  per part: T:epoch, T:runs, T:base (3 * nparts keys), then the write
--       key of every part that has items, parts in order
-- ARGV  sink, nparts, then per part: epoch, trim, n, and when n > 0:
--         cmd, m (= argc - 2 values per item),
--         r, then r pairs first_1, count_1, ..., first_r, count_r: the item
--           offsets as runs of consecutive offsets (counts summing to n),
--         n * m values, item after item
--
-- Per part: stale -> n FENCED (3), nothing written, no trim. Otherwise trim,
-- then the items below base (a prefix, offsets increasing) are SKIPPED (1);
-- ONE ZRANGEBYSCORE reads the sink's runs that touch the others (runs_of);
-- when none covers an item (the usual case): the writes are ONE `cmd key
-- v..` straight from ARGV, and the given runs (cut at base) are added with
-- add_runs (merged with a run they touch: one ZADD, and one ZREM when they
-- merge), so the marks cost a few calls per part, not per item. Writes are
-- cut into calls of at most CAP = 1000 values on item boundaries exactly
-- where complete.lua cuts a run (floor(998 / m) items per call). A write
-- call that fails gives every item it carried the error text and leaves
-- them unmarked; items of the part's earlier or later write calls that
-- succeeded are APPLIED and marked (as complete.lua does with a run). When
-- some items are covered (a replay, an ambiguous reply re-run) they are
-- SKIPPED and the writes of the others are gathered into tables, cut the
-- same way (slow path, rare).
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
    local nr = tonumber(ARGV[a + 2])
    local rs = a + 3
    local vs = rs + 2 * nr
    a, kw = vs + n * m, kw + 1
    if fenced then
      for i = 1, n do out[no + i] = 3 end
    else
      local RF, RT = {}, {}
      for j = 1, nr do
        local f = tonumber(ARGV[rs + 2 * j - 2])
        RF[j], RT[j] = f, f + tonumber(ARGV[rs + 2 * j - 1]) - 1
      end
      local nb, NF, NT = 0, {}, {}
      for j = 1, nr do
        if RT[j] < base then nb = nb + RT[j] - RF[j] + 1
        else
          if RF[j] < base then nb = nb + base - RF[j] end
          NF[#NF + 1], NT[#NT + 1] = math.max(RF[j], base), RT[j]
        end
      end
      for i = 1, nb do out[no + i] = 1 end
      if nb < n then
        local F, T, M = runs_of(rk, sink, NF[1], NT[#NT])
        local st, done, failed = {}, false, false
        if #F > 0 then
          local i = nb
          for j = 1, #NF do
            for o = NF[j], NT[j] do
              i = i + 1
              if covered(F, T, o) then
                st[i] = 1
                done = true
              end
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
          add_runs(rk, sink, F, T, M, NF, NT)
          for i = nb + 1, n do out[no + i] = 0 end
        else
          local AF, AT, k = {}, {}, 0
          local i, prev = nb, nil
          for j = 1, #NF do
            for o = NF[j], NT[j] do
              i = i + 1
              local v = st[i]
              if v == nil then
                if prev and o == prev + 1 then AT[k] = o
                else
                  k = k + 1
                  AF[k], AT[k] = o, o
                end
                prev = o
                v = 0
              else
                prev = nil
              end
              out[no + i] = v
            end
          end
          add_runs(rk, sink, F, T, M, AF, AT)
        end
      end
    end
    no = no + n
  end
end
return out
