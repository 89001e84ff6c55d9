/*
 * The Lua scripts of the exactly-once state (see state.h), as C
 * strings. Private to state.c.
 *
 * Every script takes the partition's keys first, always in the order
 *   KEYS: T:epoch, T:done, T:base
 * and the epoch it is fenced by as an ARGV. Numbers travel as canonical
 * decimal strings (PRId64); Lua compares them as doubles, exact below 2^53,
 * far above any Kafka offset or epoch.
 *
 * Fencing: a part is stale when GET T:epoch is missing or differs from the
 * caller's epoch (a newer owner INCR'd it; or the state was lost, in which
 * case the owner must assign again before writing).
 *
 * Scripts are not transactions: when a write called with redis.pcall fails,
 * the writes before it stay. complete() therefore leaves an item unmarked
 * after a failed write, and the item's earlier writes (if it has several)
 * remain applied; the sink's retry of that record redoes them. A single-write
 * item (the usual case) is all or nothing.
 */
#ifndef KF_IDEMPOTENCY_SCRIPTS_H
#define KF_IDEMPOTENCY_SCRIPTS_H

/* Shared helpers, prepended to the fenced scripts.
 * stale(ek, epoch): true when the epoch key does not hold `epoch`.
 * trim(dk, bk, t):  drops done entries with offset < t and raises base to t
 *                   (never lowers it); returns the resulting base.
 * part(p, a):       the head of part p (0-based) of a completion, whose ARGV
 *                   start at a with epoch, trim, n: returns its done key,
 *                   whether it is fenced, its base after the trim (-1 when
 *                   fenced: nothing is trimmed) and n. */
#define KF_EOS_LUA_COMMON                                                                          \
    "local function stale(ek, epoch)\n"                                                            \
    "  local cur = tonumber(redis.call('GET', ek))\n"                                              \
    "  return cur == nil or cur ~= tonumber(epoch)\n"                                              \
    "end\n"                                                                                        \
    "local function trim(dk, bk, t)\n"                                                             \
    "  local base = tonumber(redis.call('GET', bk) or '-1')\n"                                     \
    "  if tonumber(t) > base then\n"                                                               \
    "    redis.call('ZREMRANGEBYSCORE', dk, '-inf', '(' .. t)\n"                                   \
    "    redis.call('SET', bk, t)\n"                                                               \
    "    base = tonumber(t)\n"                                                                     \
    "  end\n"                                                                                      \
    "  return base\n"                                                                              \
    "end\n"                                                                                        \
    "local function part(p, a)\n"                                                                  \
    "  local ek, dk, bk = KEYS[3 * p + 1], KEYS[3 * p + 2], KEYS[3 * p + 3]\n"                     \
    "  local fenced = stale(ek, ARGV[a])\n"                                                        \
    "  local base = -1\n"                                                                          \
    "  if not fenced then base = trim(dk, bk, ARGV[a + 1]) end\n"                                  \
    "  return dk, fenced, base, tonumber(ARGV[a + 2])\n"                                           \
    "end\n"

/* assign: KEYS epoch, done, base, owner; ARGV owner ("" for none).
 * Returns {epoch, base or "-1", {members}, previous owner or ""}, members
 * "<offset>/<sink>" in offset order. `owner` is the transactional.id of the
 * process that holds the partition until it releases it (trim below). */
#define KF_EOS_LUA_ASSIGN                                                                          \
    "local e = redis.call('INCR', KEYS[1])\n"                                                      \
    "local b = redis.call('GET', KEYS[3])\n"                                                       \
    "local prev = redis.call('GET', KEYS[4]) or ''\n"                                              \
    "if ARGV[1] ~= '' then redis.call('SET', KEYS[4], ARGV[1]) end\n"                              \
    "return {e, b or '-1', redis.call('ZRANGE', KEYS[2], 0, -1), prev}\n"

/* trim: KEYS epoch, done, base[, owner]; ARGV epoch, trim[, owner]. With an
 * owner, also releases the partition when that owner still holds it: the
 * next owner then knows no transaction of it can still be open. Returns 1
 * when fenced (nothing done), else 0. */
#define KF_EOS_LUA_TRIM                                                                            \
    KF_EOS_LUA_COMMON                                                                              \
    "if stale(KEYS[1], ARGV[1]) then return 1 end\n"                                               \
    "trim(KEYS[2], KEYS[3], ARGV[2])\n"                                                            \
    "if ARGV[3] and ARGV[3] ~= '' and redis.call('GET', KEYS[4]) == ARGV[3] then\n"                \
    "  redis.call('DEL', KEYS[4])\n"                                                               \
    "end\n"                                                                                        \
    "return 0\n"

/*
 * complete:
 *   KEYS  per part: epoch, done, base (3 * nparts keys), then, in order, the
 *         key (argv[1]) of every write that has one (argc >= 2)
 *   ARGV  sink, nparts, then per part: epoch, trim, nitems, then per item:
 *         offset, nwrites, then per write: argc, argv[0], argv[2..argc-1]
 * Per part: stale -> every item FENCED (3), nothing written, no trim.
 * Otherwise trim rides first; then per item: below base (trimmed, hence done
 * and committed) or marked "<offset>/<sink>" -> SKIPPED (1); else its writes
 * run with redis.pcall: the first error stops the item, which stays unmarked
 * and returns the error text (a string) instead of a status; all OK -> its
 * mark is added -> APPLIED (0). An offset given twice in a part is written
 * once: a later copy is SKIPPED when an earlier one was APPLIED.
 * Returns one element per item, parts in order. (A call whose every part
 * is uniform runs the leaner uniform script below instead: same results.)
 *
 * Redis commands per part, whatever the number of items (each redis.call
 * has a fixed cost inside Redis: the three per item that this script used
 * to make were most of its time):
 *   GET epoch, GET base (+ ZREMRANGEBYSCORE and SET when the trim moves it),
 *   ONE ZMSCORE done m1 m2 ... for the items not below base,
 *   the writes: one call per run (below) or per write not in a run,
 *   ONE ZADD done off1 m1 off2 m2 ... for the APPLIED items (none if none).
 * ZMSCORE needs Redis >= 6.2. Argument lists are cut into calls of at most
 * CAP = 1000 values (Lua 5.1's unpack() stops near 8000): a part with more
 * than 1000 checks or 500 marks makes one more call per 1000 values.
 * The script walks a part's items three times: collect the members (and
 * where each item's writes are), then run the writes in order, then add the
 * marks and the statuses. NUM and KIND cache tonumber() and the command's
 * run kind per distinct string (ARGV repeats "1", "3", "RPUSH"...).
 *
 * Runs: consecutive single-write items of a part whose writes merge exactly
 * into one command are sent as that one command, in item order:
 *   RPUSH, LPUSH, SADD, HDEL key a.. ; same cmd and key  -> cmd key a.. b..
 *   HSET key f v ..              ; same key              -> HSET key f v .. f v
 *                                  (a field given twice: the later wins, as
 *                                  when run one after another)
 *   DEL k ..                     ; any keys              -> DEL k .. k ..
 *   SET k v (exactly)            ; any keys              -> MSET k v k v ..
 *                                  (both replace any type and drop a TTL)
 * The command is recognised in any case, but a run needs the same spelling
 * (RPUSH then rpush: two runs). XADD, SET with options, other commands,
 * wrong argument counts and items with several writes run as before, one
 * pcall per write, and end the current run. Items that write nothing here
 * (SKIPPED, marks only) do not end a run: Redis executes the same effects
 * in the same order. A run of one item runs its write unchanged. A
 * run is capped at CAP arguments and split beyond. An offset seen again in
 * the part (offsets not strictly increasing) ends the run first, so that its
 * earlier copy's outcome is known. When a merged call fails, EVERY item of
 * its run gets that error and stays unmarked: stricter than running them one
 * by one, but the same in practice: the pushes, HSET and HDEL of a run share
 * their key, so a WRONGTYPE fails them all anyway; DEL and MSET do not fail
 * per key. Like a single write, a run is all or nothing.
 */
#define KF_EOS_LUA_COMPLETE                                                                        \
    KF_EOS_LUA_COMMON                                                                              \
    "local sink = ARGV[1]\n"                                                                       \
    "local nparts = tonumber(ARGV[2])\n"                                                           \
    "local CAP = 1000\n"                                                                           \
    "local MERGE = {RPUSH = 1, LPUSH = 1, SADD = 1, HDEL = 1, HSET = 2, DEL = 3, SET = 4}\n"       \
    "local NUM = setmetatable({}, {__index = function(t, v)\n"                                     \
    "  local x = tonumber(v)\n"                                                                    \
    "  t[v] = x\n"                                                                                 \
    "  return x\n"                                                                                 \
    "end})\n"                                                                                      \
    "local KIND = setmetatable({}, {__index = function(t, c)\n"                                    \
    "  local k = MERGE[string.upper(c)] or false\n"                                                \
    "  t[c] = k\n"                                                                                 \
    "  return k\n"                                                                                 \
    "end})\n"                                                                                      \
    "local a = 3\n"                                                                                \
    "local kw = 3 * nparts + 1\n"                                                                  \
    "local out, no = {}, 0\n"                                                                      \
    "local function exec(b, key)\n"                                                                \
    "  local argc = NUM[ARGV[b]]\n"                                                                \
    "  local args = {ARGV[b + 1]}\n"                                                               \
    "  if argc >= 2 then\n"                                                                        \
    "    args[2] = key\n"                                                                          \
    "    for x = 3, argc do args[x] = ARGV[b + x - 1] end\n"                                       \
    "  end\n"                                                                                      \
    "  local r = redis.pcall(unpack(args))\n"                                                      \
    "  if type(r) == 'table' and r.err then return tostring(r.err) end\n"                          \
    "  return nil\n"                                                                               \
    "end\n"                                                                                        \
    "for p = 0, nparts - 1 do\n"                                                                   \
    "  local dk, fenced, base, n = part(p, a)\n"                                                   \
    "  a = a + 3\n"                                                                                \
    "  local imem, ist, inw, ia, ik = {}, {}, {}, {}, {}\n"                                        \
    "  local cand, cmem, nc = {}, {}, 0\n"                                                         \
    "  local last, dups = -1 / 0, false\n"                                                         \
    "  for i = 1, n do\n"                                                                          \
    "    local off = ARGV[a]\n"                                                                    \
    "    local o = tonumber(off)\n"                                                                \
    "    local nw = NUM[ARGV[a + 1]]\n"                                                            \
    "    local member = off .. '/' .. sink\n"                                                      \
    "    if o <= last then dups = true end\n"                                                      \
    "    last = o\n"                                                                               \
    "    imem[i], inw[i], ia[i], ik[i] = member, nw, a + 2, kw\n"                                  \
    "    if fenced then ist[i] = 3\n"                                                              \
    "    elseif o < base then ist[i] = 1\n"                                                        \
    "    else\n"                                                                                   \
    "      ist[i] = 0\n"                                                                           \
    "      nc = nc + 1\n"                                                                          \
    "      cand[nc], cmem[nc] = i, member\n"                                                       \
    "    end\n"                                                                                    \
    "    a = a + 2\n"                                                                              \
    "    for w = 1, nw do\n"                                                                       \
    "      local argc = NUM[ARGV[a]]\n"                                                            \
    "      if argc >= 2 then\n"                                                                    \
    "        kw = kw + 1\n"                                                                        \
    "        a = a + argc\n"                                                                       \
    "      else\n"                                                                                 \
    "        a = a + 2\n"                                                                          \
    "      end\n"                                                                                  \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  for s = 1, nc, CAP do\n"                                                                    \
    "    local e = math.min(s + CAP - 1, nc)\n"                                                    \
    "    local r = redis.call('ZMSCORE', dk, unpack(cmem, s, e))\n"                                \
    "    for x = 1, e - s + 1 do\n"                                                                \
    "      if r[x] then ist[cand[s + x - 1]] = 1 end\n"                                            \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  local rn, rkind, rname, rkey, rargs, rc, ritems = 0\n"                                      \
    "  local function flush()\n"                                                                   \
    "    if rn == 0 then return end\n"                                                             \
    "    local e\n"                                                                                \
    "    if rn == 1 then e = exec(ia[ritems[1]], KEYS[ik[ritems[1]]])\n"                           \
    "    else\n"                                                                                   \
    "      local r = redis.pcall(unpack(rargs, 1, rc))\n"                                          \
    "      if type(r) == 'table' and r.err then e = tostring(r.err) end\n"                         \
    "    end\n"                                                                                    \
    "    if e then\n"                                                                              \
    "      for x = 1, rn do ist[ritems[x]] = e end\n"                                              \
    "    end\n"                                                                                    \
    "    rn = 0\n"                                                                                 \
    "  end\n"                                                                                      \
    "  local owner = {}\n"                                                                         \
    "  for i = 1, n do\n"                                                                          \
    "    if dups and ist[i] == 0 then\n"                                                           \
    "      local prev = owner[imem[i]]\n"                                                          \
    "      if prev then\n"                                                                         \
    "        flush()\n"                                                                            \
    "        if ist[prev] == 0 then ist[i] = 1 end\n"                                              \
    "      end\n"                                                                                  \
    "      if ist[i] == 0 then owner[imem[i]] = i end\n"                                           \
    "    end\n"                                                                                    \
    "    local nw = inw[i]\n"                                                                      \
    "    if ist[i] == 0 and nw > 0 then\n"                                                         \
    "      local b = ia[i]\n"                                                                      \
    "      local k, name, argc = false\n"                                                          \
    "      if nw == 1 then\n"                                                                      \
    "        argc, name = NUM[ARGV[b]], ARGV[b + 1]\n"                                             \
    "        k = KIND[name]\n"                                                                     \
    "        if k == 1 and argc < 3 or k == 2 and (argc < 4 or argc % 2 == 1)\n"                   \
    "           or k == 3 and argc < 2 or k == 4 and argc ~= 3 then\n"                             \
    "          k = false\n"                                                                        \
    "        end\n"                                                                                \
    "      end\n"                                                                                  \
    "      if k then\n"                                                                            \
    "        local key = KEYS[ik[i]]\n"                                                            \
    "        local add = argc - 2\n"                                                               \
    "        if k >= 3 then add = argc - 1 end\n"                                                  \
    "        if rn > 0 and (k ~= rkind or name ~= rname or k <= 2 and key ~= rkey\n"               \
    "                       or rc + add > CAP) then\n"                                             \
    "          flush()\n"                                                                          \
    "        end\n"                                                                                \
    "        if rn == 0 then\n"                                                                    \
    "          rkind, rname, rkey, ritems = k, name, key, {}\n"                                    \
    "          if k == 4 then rargs, rc = {'MSET'}, 1\n"                                           \
    "          elseif k == 3 then rargs, rc = {ARGV[b + 1]}, 1\n"                                  \
    "          else rargs, rc = {ARGV[b + 1], key}, 2 end\n"                                       \
    "        end\n"                                                                                \
    "        rn = rn + 1\n"                                                                        \
    "        ritems[rn] = i\n"                                                                     \
    "        if k >= 3 then\n"                                                                     \
    "          rc = rc + 1\n"                                                                      \
    "          rargs[rc] = key\n"                                                                  \
    "        end\n"                                                                                \
    "        for x = b + 2, b + argc - 1 do\n"                                                     \
    "          rc = rc + 1\n"                                                                      \
    "          rargs[rc] = ARGV[x]\n"                                                              \
    "        end\n"                                                                                \
    "      else\n"                                                                                 \
    "        flush()\n"                                                                            \
    "        local kk = ik[i]\n"                                                                   \
    "        for w = 1, nw do\n"                                                                   \
    "          local argc = NUM[ARGV[b]]\n"                                                        \
    "          local e\n"                                                                          \
    "          if argc >= 2 then\n"                                                                \
    "            e = exec(b, KEYS[kk])\n"                                                          \
    "            kk = kk + 1\n"                                                                    \
    "            b = b + argc\n"                                                                   \
    "          else\n"                                                                             \
    "            e = exec(b, nil)\n"                                                               \
    "            b = b + 2\n"                                                                      \
    "          end\n"                                                                              \
    "          if e then\n"                                                                        \
    "            ist[i] = e\n"                                                                     \
    "            break\n"                                                                          \
    "          end\n"                                                                              \
    "        end\n"                                                                                \
    "      end\n"                                                                                  \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  flush()\n"                                                                                  \
    "  local z, zn = {}, 0\n"                                                                      \
    "  for i = 1, n do\n"                                                                          \
    "    local st = ist[i]\n"                                                                      \
    "    if st == 0 then\n"                                                                        \
    "      z[zn + 1], z[zn + 2] = ARGV[ia[i] - 2], imem[i]\n"                                      \
    "      zn = zn + 2\n"                                                                          \
    "      if zn >= CAP then\n"                                                                    \
    "        redis.call('ZADD', dk, unpack(z, 1, zn))\n"                                           \
    "        zn = 0\n"                                                                             \
    "      end\n"                                                                                  \
    "    end\n"                                                                                    \
    "    no = no + 1\n"                                                                            \
    "    out[no] = st\n"                                                                           \
    "  end\n"                                                                                      \
    "  if zn > 0 then redis.call('ZADD', dk, unpack(z, 1, zn)) end\n"                              \
    "end\n"                                                                                        \
    "return out\n"

/*
 * uniform: the fast path of complete(), same results, for a call whose
 * every part is "uniform" (state.c decides, see uniform_part()):
 * every item has exactly one write; within the part every write has the
 * same argv[0] (byte-equal), the same key argv[1] and the same argc; the
 * command is RPUSH, LPUSH, SADD, HDEL (argc >= 3) or HSET (argc >= 4,
 * even), in any case; the item offsets strictly increase. A part with no
 * items (a trim only) is uniform too.
 *   KEYS  per part: epoch, done, base (3 * nparts keys), then the write key
 *         of every part that has items, parts in order
 *   ARGV  nparts, then per part: epoch, trim, n, and when n > 0:
 *           cmd, m (= argc - 2 values per item),
 *           2n pairs off_1, "off_1/sink", ..., off_n, "off_n/sink",
 *           n * m values, item after item
 * The client formats the marks: no string work in Lua; per item the usual
 * path only copies the member for ZMSCORE, reads its score and sets the
 * status. Per part: stale -> n FENCED (3), nothing written, no trim.
 * Otherwise trim, then the items below base (a prefix, offsets increasing)
 * are SKIPPED (1); ONE ZMSCORE over the other members; when none is done (the
 * usual case): the writes are ONE `cmd key v..` straight from ARGV, and the
 * marks ONE ZADD done straight from the pair range; each is cut into calls
 * of at most CAP = 1000 values, the writes on item boundaries exactly
 * where complete() cuts a run (floor(998 / m) items per call), the ZADD on
 * pair boundaries. A write call that fails gives every item it carried the
 * error text and leaves them unmarked; items of the part's earlier or later
 * write calls that succeeded are APPLIED and marked (the same as complete()
 * does with a run). When some items are done (a replay) the writes of the
 * others are gathered into tables, cut the same way (slow path, rare).
 * Returns one element per item, parts in order, as complete().
 */
#define KF_EOS_LUA_UNIFORM                                                                         \
    KF_EOS_LUA_COMMON                                                                              \
    "local CAP = 1000\n"                                                                           \
    "local nparts = tonumber(ARGV[1])\n"                                                           \
    "local a, kw = 2, 3 * nparts + 1\n"                                                            \
    "local out, no = {}, 0\n"                                                                      \
    "for p = 0, nparts - 1 do\n"                                                                   \
    "  local dk, fenced, base, n = part(p, a)\n"                                                   \
    "  a = a + 3\n"                                                                                \
    "  if n > 0 then\n"                                                                            \
    "    local cmd, m, key = ARGV[a], tonumber(ARGV[a + 1]), KEYS[kw]\n"                           \
    "    local ps = a + 2\n"                                                                       \
    "    local vs = ps + 2 * n\n"                                                                  \
    "    a, kw = vs + n * m, kw + 1\n"                                                             \
    "    if fenced then\n"                                                                         \
    "      for i = 1, n do out[no + i] = 3 end\n"                                                  \
    "    else\n"                                                                                   \
    "      local nb = 0\n"                                                                         \
    "      while nb < n and tonumber(ARGV[ps + 2 * nb]) < base do\n"                               \
    "        nb = nb + 1\n"                                                                        \
    "        out[no + nb] = 1\n"                                                                   \
    "      end\n"                                                                                  \
    "      local st, done, failed = {}, false, false\n"                                            \
    "      local mem, nc = {}, n - nb\n"                                                           \
    "      for x = 1, nc do mem[x] = ARGV[ps + 2 * (nb + x) - 1] end\n"                            \
    "      for s = 1, nc, CAP do\n"                                                                \
    "        local e = math.min(s + CAP - 1, nc)\n"                                                \
    "        local r = redis.call('ZMSCORE', dk, unpack(mem, s, e))\n"                             \
    "        for x = 1, e - s + 1 do\n"                                                            \
    "          if r[x] then\n"                                                                     \
    "            st[nb + s + x - 1] = 1\n"                                                         \
    "            done = true\n"                                                                    \
    "          end\n"                                                                              \
    "        end\n"                                                                                \
    "      end\n"                                                                                  \
    "      local per = math.max(1, math.floor((CAP - 2) / m))\n"                                   \
    "      if not done then\n"                                                                     \
    "        for s = nb + 1, n, per do\n"                                                          \
    "          local e = math.min(s + per - 1, n)\n"                                               \
    "          local r = redis.pcall(cmd, key, unpack(ARGV, vs + (s - 1) * m, vs + e * m - 1))\n"  \
    "          if type(r) == 'table' and r.err then\n"                                             \
    "            local err = tostring(r.err)\n"                                                    \
    "            for i = s, e do st[i] = err end\n"                                                \
    "            failed = true\n"                                                                  \
    "          end\n"                                                                              \
    "        end\n"                                                                                \
    "      else\n"                                                                                 \
    "        local run, vals, rn, nv = {}, {}, 0, 0\n"                                             \
    "        local function flush()\n"                                                             \
    "          if rn == 0 then return end\n"                                                       \
    "          local r = redis.pcall(cmd, key, unpack(vals, 1, nv))\n"                             \
    "          if type(r) == 'table' and r.err then\n"                                             \
    "            local err = tostring(r.err)\n"                                                    \
    "            for x = 1, rn do st[run[x]] = err end\n"                                          \
    "          end\n"                                                                              \
    "          rn, nv = 0, 0\n"                                                                    \
    "        end\n"                                                                                \
    "        for i = nb + 1, n do\n"                                                               \
    "          if not st[i] then\n"                                                                \
    "            if rn == per then flush() end\n"                                                  \
    "            rn = rn + 1\n"                                                                    \
    "            run[rn] = i\n"                                                                    \
    "            local b = vs + (i - 1) * m\n"                                                     \
    "            for x = b, b + m - 1 do\n"                                                        \
    "              nv = nv + 1\n"                                                                  \
    "              vals[nv] = ARGV[x]\n"                                                           \
    "            end\n"                                                                            \
    "          end\n"                                                                              \
    "        end\n"                                                                                \
    "        flush()\n"                                                                            \
    "      end\n"                                                                                  \
    "      if not done and not failed then\n"                                                      \
    "        local s0, e0 = ps + 2 * nb, ps + 2 * n - 1\n"                                         \
    "        for s = s0, e0, CAP do\n"                                                             \
    "          redis.call('ZADD', dk, unpack(ARGV, s, math.min(s + CAP - 1, e0)))\n"               \
    "        end\n"                                                                                \
    "        for i = nb + 1, n do out[no + i] = 0 end\n"                                           \
    "      else\n"                                                                                 \
    "        local z, zn = {}, 0\n"                                                                \
    "        for i = nb + 1, n do\n"                                                               \
    "          local v = st[i]\n"                                                                  \
    "          if v == nil then\n"                                                                 \
    "            z[zn + 1], z[zn + 2] = ARGV[ps + 2 * i - 2], ARGV[ps + 2 * i - 1]\n"              \
    "            zn = zn + 2\n"                                                                    \
    "            if zn >= CAP then\n"                                                              \
    "              redis.call('ZADD', dk, unpack(z, 1, zn))\n"                                     \
    "              zn = 0\n"                                                                       \
    "            end\n"                                                                            \
    "            v = 0\n"                                                                          \
    "          end\n"                                                                              \
    "          out[no + i] = v\n"                                                                  \
    "        end\n"                                                                                \
    "        if zn > 0 then redis.call('ZADD', dk, unpack(z, 1, zn)) end\n"                        \
    "      end\n"                                                                                  \
    "    end\n"                                                                                    \
    "    no = no + n\n"                                                                            \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "return out\n"

/* claim: KEYS epoch, then one T:bk:<key> per record; ARGV epoch, window_ms,
 * then one offset per record. Returns {1} when fenced (nothing written),
 * else {0, dup_1, ..., dup_n}: dup 0 when this offset holds the marker
 * (first sight or a replay of the same record), 1 when another offset does. */
#define KF_EOS_LUA_CLAIM                                                                           \
    KF_EOS_LUA_COMMON                                                                              \
    "if stale(KEYS[1], ARGV[1]) then return {1} end\n"                                             \
    "local out = {0}\n"                                                                            \
    "for i = 2, #KEYS do\n"                                                                        \
    "  local off = ARGV[i + 1]\n"                                                                  \
    "  local dup = 0\n"                                                                            \
    "  if not redis.call('SET', KEYS[i], off, 'NX', 'PX', ARGV[2]) then\n"                         \
    "    local v = redis.call('GET', KEYS[i])\n"                                                   \
    "    if v == false then redis.call('SET', KEYS[i], off, 'PX', ARGV[2])\n"                      \
    "    elseif v ~= off then dup = 1 end\n"                                                       \
    "  end\n"                                                                                      \
    "  out[i] = dup\n"                                                                             \
    "end\n"                                                                                        \
    "return out\n"

#endif /* KF_IDEMPOTENCY_SCRIPTS_H */
