-- trim.lua: drops a partition's runs below its committed offset and,
-- after a clean hand-over, releases the partition (eos/README.md, "The
-- protocol", Trim and Release). Called by eos/state.c:kf_eos_state_release
-- (and kf_eos_state_trim, which passes no holder).
-- prelude: common.lua
--
-- KEYS  [1] T:epoch  [2] T:runs  [3] T:base  [4] T:owner (only with ARGV[3])
-- ARGV  [1] epoch  [2] trim: the committed offset  [3] holder (optional;
--       absent or "" releases nothing)
--
-- Fenced (T:epoch does not hold ARGV[1]): nothing is written. Otherwise the
-- members of T:runs that end below trim go (one that straddles it stays
-- whole: its offsets below trim count for nothing), and T:base rises to trim
-- (never lowers). With a holder,
-- T:owner is deleted when it still names that holder: the next owner then
-- knows no transaction of it can still be open, and does not fence its
-- producer.
-- Reply: 1 when fenced, else 0.
if stale(KEYS[1], ARGV[1]) then return 1 end
trim(KEYS[2], KEYS[3], ARGV[2])
if ARGV[3] and ARGV[3] ~= '' and redis.call('GET', KEYS[4]) == ARGV[3] then
  redis.call('DEL', KEYS[4])
end
return 0
