-- complete.lua: a sink's completion, ONE call for any number of partitions
-- (eos/README.md, "The protocol", Complete). Called by
-- eos/state.c:kf_eos_state_complete when some part is not uniform (else
-- complete_uniform.lua runs, with the same results).
-- prelude: common.lua
--
-- KEYS  per part: T:epoch, T:runs, T:base (3 * nparts keys); then, in order,
--       the key (argv[1]) of every write that has one (argc >= 2)
-- ARGV  sink, nparts, then per part: epoch, trim, nitems, then per item:
--       offset, nwrites, then per write: argc, argv[0], argv[2..argc-1]
--
-- Per part: stale -> every item FENCED (3), nothing written, no trim.
-- Otherwise the trim goes first (common.lua's trim); then per item: below
-- base (trimmed, hence done and committed) or held by a member of this sink
-- in T:runs -> SKIPPED (1); else its writes run with redis.pcall: the first
-- error stops the item, which stays unmarked and gets the error text (a
-- string) instead of a status; all OK -> APPLIED (0), and its offset joins
-- the member added at the end of the part. An offset given twice in a part is
-- written once: a later copy is SKIPPED when an earlier one was APPLIED.
-- The offsets APPLIED in a part become one member of T:runs (common.lua's
-- mask_of and add_run), as complete_uniform.lua builds it.
-- Reply: one element per item, parts in order.
--
-- Not a transaction: when a write fails, the writes before it stay. An item
-- with several writes whose later write fails is left unmarked with its
-- earlier writes applied, and the sink's retry of the record redoes them. A
-- single-write item (the usual case) is all or nothing.
--
-- Cost: each redis.call has a fixed cost inside Redis, so the number of
-- calls per part does not grow with its items:
--   GET epoch, GET base (+ ZREMRANGEBYSCORE and SET when the trim moves it),
--   ONE ZRANGEBYSCORE: the sink's members that touch the items not below
--   base,
--   the writes: one call per run (below) or per write not in a run,
--   the APPLIED offsets as ONE member: ONE ZADD (none if nothing was
--   applied), ONE ZREM when it is a run that merges with runs it touches.
-- Argument lists are cut into calls of at most CAP = 1000 values (Lua 5.1's
-- unpack() stops near 8000).
-- The script walks a part's items three times: collect the offsets (and
-- where each item's writes are), then run the writes in order, then gather
-- the member and the statuses. NUM and KIND cache tonumber() and the command's
-- run kind per distinct string (ARGV repeats "1", "3", "RPUSH"...).
--
-- Runs: consecutive single-write items of a part whose writes merge exactly
-- into one command are sent as that one command, in item order:
--   RPUSH, LPUSH, SADD, HDEL key a.. ; same cmd and key  -> cmd key a.. b..
--   HSET key f v ..              ; same key              -> HSET key f v .. f v
--                                  (a field given twice: the later wins, as
--                                  when run one after another)
--   DEL k ..                     ; any keys              -> DEL k .. k ..
--   SET k v (exactly)            ; any keys              -> MSET k v k v ..
--                                  (both replace any type and drop a TTL)
-- The command is recognised in any case, but a run needs the same spelling
-- (RPUSH then rpush: two runs). XADD, SET with options, other commands,
-- wrong argument counts and items with several writes are not merged: they
-- run one pcall per write and end the current run. Items that write nothing
-- here (SKIPPED, marks only) do not end a run: Redis executes the same
-- effects in the same order. A run of one item runs its write unchanged. A
-- run is capped at CAP arguments and split beyond. An offset seen again in
-- the part (offsets not strictly increasing) ends the run first, so that its
-- earlier copy's outcome is known. When a merged call fails, EVERY item of
-- its run gets that error and stays unmarked: stricter than running them one
-- by one, but the same in practice: the pushes, HSET and HDEL of a run share
-- their key, so a WRONGTYPE fails them all anyway; DEL and MSET do not fail
-- per key. Like a single write, a run is all or nothing.
local sink = ARGV[1]
local nparts = tonumber(ARGV[2])
local CAP = 1000
local MERGE = {RPUSH = 1, LPUSH = 1, SADD = 1, HDEL = 1, HSET = 2, DEL = 3, SET = 4}
local NUM = setmetatable({}, {__index = function(t, v)
  local x = tonumber(v)
  t[v] = x
  return x
end})
local KIND = setmetatable({}, {__index = function(t, c)
  local k = MERGE[string.upper(c)] or false
  t[c] = k
  return k
end})
local a = 3
local kw = 3 * nparts + 1
local out, no = {}, 0
local function exec(b, key)
  local argc = NUM[ARGV[b]]
  local args = {ARGV[b + 1]}
  if argc >= 2 then
    args[2] = key
    for x = 3, argc do args[x] = ARGV[b + x - 1] end
  end
  local r = redis.pcall(unpack(args))
  if type(r) == 'table' and r.err then return tostring(r.err) end
  return nil
end
for p = 0, nparts - 1 do
  local rk, fenced, base, n = part(p, a)
  a = a + 3
  local ioff, ist, inw, ia, ik = {}, {}, {}, {}, {}
  local lo, hi, nc = 1 / 0, -1 / 0, 0
  local last, dups = -1 / 0, false
  for i = 1, n do
    local o = tonumber(ARGV[a])
    local nw = NUM[ARGV[a + 1]]
    if o <= last then dups = true end
    last = o
    ioff[i], inw[i], ia[i], ik[i] = o, nw, a + 2, kw
    if fenced then ist[i] = 3
    elseif o < base then ist[i] = 1
    else
      ist[i] = 0
      nc = nc + 1
      if o < lo then lo = o end
      if o > hi then hi = o end
    end
    a = a + 2
    for w = 1, nw do
      local argc = NUM[ARGV[a]]
      if argc >= 2 then
        kw = kw + 1
        a = a + argc
      else
        a = a + 2
      end
    end
  end
  local R = {}
  if nc > 0 then
    R = runs_of(rk, sink, lo, hi)
    if #R > 0 then
      for i = 1, n do
        if ist[i] == 0 then
          local o = ioff[i]
          for x = 1, #R do
            if has(R[x][1], R[x][2], R[x][3], o) then
              ist[i] = 1
              break
            end
          end
        end
      end
    end
  end
  local rn, rkind, rname, rkey, rargs, rc, ritems = 0
  local function flush()
    if rn == 0 then return end
    local e
    if rn == 1 then e = exec(ia[ritems[1]], KEYS[ik[ritems[1]]])
    else
      local r = redis.pcall(unpack(rargs, 1, rc))
      if type(r) == 'table' and r.err then e = tostring(r.err) end
    end
    if e then
      for x = 1, rn do ist[ritems[x]] = e end
    end
    rn = 0
  end
  local owner = {}
  for i = 1, n do
    if dups and ist[i] == 0 then
      local prev = owner[ioff[i]]
      if prev then
        flush()
        if ist[prev] == 0 then ist[i] = 1 end
      end
      if ist[i] == 0 then owner[ioff[i]] = i end
    end
    local nw = inw[i]
    if ist[i] == 0 and nw > 0 then
      local b = ia[i]
      local k, name, argc = false
      if nw == 1 then
        argc, name = NUM[ARGV[b]], ARGV[b + 1]
        k = KIND[name]
        if k == 1 and argc < 3 or k == 2 and (argc < 4 or argc % 2 == 1)
           or k == 3 and argc < 2 or k == 4 and argc ~= 3 then
          k = false
        end
      end
      if k then
        local key = KEYS[ik[i]]
        local add = argc - 2
        if k >= 3 then add = argc - 1 end
        if rn > 0 and (k ~= rkind or name ~= rname or k <= 2 and key ~= rkey
                       or rc + add > CAP) then
          flush()
        end
        if rn == 0 then
          rkind, rname, rkey, ritems = k, name, key, {}
          if k == 4 then rargs, rc = {'MSET'}, 1
          elseif k == 3 then rargs, rc = {ARGV[b + 1]}, 1
          else rargs, rc = {ARGV[b + 1], key}, 2 end
        end
        rn = rn + 1
        ritems[rn] = i
        if k >= 3 then
          rc = rc + 1
          rargs[rc] = key
        end
        for x = b + 2, b + argc - 1 do
          rc = rc + 1
          rargs[rc] = ARGV[x]
        end
      else
        flush()
        local kk = ik[i]
        for w = 1, nw do
          local argc = NUM[ARGV[b]]
          local e
          if argc >= 2 then
            e = exec(b, KEYS[kk])
            kk = kk + 1
            b = b + argc
          else
            e = exec(b, nil)
            b = b + 2
          end
          if e then
            ist[i] = e
            break
          end
        end
      end
    end
  end
  flush()
  local ap, na = {}, 0
  for i = 1, n do
    if ist[i] == 0 then
      na = na + 1
      ap[na] = ioff[i]
    end
    no = no + 1
    out[no] = ist[i]
  end
  if na > 0 then
    if dups then table.sort(ap) end
    local u = 1
    for x = 2, na do
      if ap[x] ~= ap[u] then
        u = u + 1
        ap[u] = ap[x]
      end
    end
    for _, c in ipairs(mask_of(ap, u)) do add_run(rk, sink, R, c[1], c[2], c[3], base) end
  end
end
return out
