-- assign.lua: a new owner takes a partition (eos/README.md, "The protocol",
-- Assign). Called by eos/state.c:kf_eos_state_assign_owned.
--
-- KEYS  [1] T:epoch  [2] T:done  [3] T:base  [4] T:owner
-- ARGV  [1] the caller's transactional.id, or "" to record no holder
--
-- Effects: INCR T:epoch; the result is the caller's fencing token, and every
-- later script called with a lower epoch is fenced. When ARGV[1] is not "",
-- SET T:owner ARGV[1]: the caller holds the partition until trim.lua
-- releases it.
-- Reply: {epoch, base, members, holder}
--   epoch    the new T:epoch (an integer)
--   base     T:base, "-1" when the partition was never trimmed
--   members  every T:done member "<offset>/<sink>", in offset order: the
--            sinks already done above the committed watermark
--   holder   T:owner as it was before this call, "" when none: a holder that
--            did not release the partition (a zombie, a crash)
local e = redis.call('INCR', KEYS[1])
local b = redis.call('GET', KEYS[3])
local prev = redis.call('GET', KEYS[4]) or ''
if ARGV[1] ~= '' then redis.call('SET', KEYS[4], ARGV[1]) end
return {e, b or '-1', redis.call('ZRANGE', KEYS[2], 0, -1), prev}
