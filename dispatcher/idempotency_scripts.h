/*
 * The Lua scripts of the exactly-once state (see idempotency.h), as C
 * strings. Private to idempotency.c.
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
 *                   (never lowers it); returns the resulting base. */
#define KF_IDEM_LUA_COMMON                                                                         \
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
    "end\n"

/* assign: KEYS epoch, done, base. Returns {epoch, base or "-1", {members}},
 * members "<offset>/<sink>" in offset order. */
#define KF_IDEM_LUA_ASSIGN                                                                         \
    "local e = redis.call('INCR', KEYS[1])\n"                                                      \
    "local b = redis.call('GET', KEYS[3])\n"                                                       \
    "return {e, b or '-1', redis.call('ZRANGE', KEYS[2], 0, -1)}\n"

/* trim: KEYS epoch, done, base; ARGV epoch, trim. Returns 1 when fenced
 * (nothing done), else 0. */
#define KF_IDEM_LUA_TRIM                                                                           \
    KF_IDEM_LUA_COMMON                                                                             \
    "if stale(KEYS[1], ARGV[1]) then return 1 end\n"                                               \
    "trim(KEYS[2], KEYS[3], ARGV[2])\n"                                                            \
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
 * and returns the error text (a string) instead of a status; all OK ->
 * ZADD the mark -> APPLIED (0).
 * Returns one element per item, parts in order.
 */
#define KF_IDEM_LUA_COMPLETE                                                                       \
    KF_IDEM_LUA_COMMON                                                                             \
    "local sink = ARGV[1]\n"                                                                       \
    "local nparts = tonumber(ARGV[2])\n"                                                           \
    "local a = 3\n"                                                                                \
    "local kw = 3 * nparts + 1\n"                                                                  \
    "local out = {}\n"                                                                             \
    "for p = 0, nparts - 1 do\n"                                                                   \
    "  local ek, dk, bk = KEYS[3 * p + 1], KEYS[3 * p + 2], KEYS[3 * p + 3]\n"                     \
    "  local fenced = stale(ek, ARGV[a])\n"                                                        \
    "  local base = -1\n"                                                                          \
    "  if not fenced then base = trim(dk, bk, ARGV[a + 1]) end\n"                                  \
    "  local nitems = tonumber(ARGV[a + 2])\n"                                                     \
    "  a = a + 3\n"                                                                                \
    "  for i = 1, nitems do\n"                                                                     \
    "    local off = ARGV[a]\n"                                                                    \
    "    local nw = tonumber(ARGV[a + 1])\n"                                                       \
    "    a = a + 2\n"                                                                              \
    "    local member = off .. '/' .. sink\n"                                                      \
    "    local st = 0\n"                                                                           \
    "    if fenced then st = 3\n"                                                                  \
    "    elseif tonumber(off) < base or redis.call('ZSCORE', dk, member) then st = 1 end\n"        \
    "    for w = 1, nw do\n"                                                                       \
    "      local argc = tonumber(ARGV[a])\n"                                                       \
    "      if st == 0 then\n"                                                                      \
    "        local args = {ARGV[a + 1]}\n"                                                         \
    "        if argc >= 2 then\n"                                                                  \
    "          args[2] = KEYS[kw]\n"                                                               \
    "          for j = 3, argc do args[j] = ARGV[a + j - 1] end\n"                                 \
    "        end\n"                                                                                \
    "        local r = redis.pcall(unpack(args))\n"                                                \
    "        if type(r) == 'table' and r.err then st = tostring(r.err) end\n"                      \
    "      end\n"                                                                                  \
    "      if argc >= 2 then\n"                                                                    \
    "        kw = kw + 1\n"                                                                        \
    "        a = a + argc\n"                                                                       \
    "      else\n"                                                                                 \
    "        a = a + 2\n"                                                                          \
    "      end\n"                                                                                  \
    "    end\n"                                                                                    \
    "    if st == 0 then redis.call('ZADD', dk, off, member) end\n"                                \
    "    out[#out + 1] = st\n"                                                                     \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "return out\n"

/* claim: KEYS epoch, then one T:bk:<key> per record; ARGV epoch, window_ms,
 * then one offset per record. Returns {1} when fenced (nothing written),
 * else {0, dup_1, ..., dup_n}: dup 0 when this offset holds the marker
 * (first sight or a replay of the same record), 1 when another offset does. */
#define KF_IDEM_LUA_CLAIM                                                                          \
    KF_IDEM_LUA_COMMON                                                                             \
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
