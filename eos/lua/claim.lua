-- claim.lua: business-key dedupe for records of one partition (eos/README.md,
-- "Business keys"). Called by eos/state.c:kf_eos_state_claim.
-- prelude: common.lua
--
-- KEYS  [1] T:epoch, then one T:bk:<business key> per record
-- ARGV  [1] epoch  [2] window_ms (>= 1), then one offset per record, in the
--       order of their keys
--
-- Fenced (T:epoch does not hold ARGV[1]): nothing is written, reply {1}.
-- Otherwise, per record: SET T:bk:<key> <offset> NX PX window_ms, so the
-- first offset to claim a key holds it for the window. A marker the record's
-- own offset holds is left as it is (a replay neither extends nor moves it);
-- one that is gone by the time it is read is claimed anew.
-- Reply: {0, dup_1, ..., dup_n}, dup_i 0 when record i's offset holds the
-- marker (first sight, or a replay of the same record), 1 when another
-- offset holds it (a producer-side duplicate within the window).
if stale(KEYS[1], ARGV[1]) then return {1} end
local out = {0}
for i = 2, #KEYS do
  local off = ARGV[i + 1]
  local dup = 0
  if not redis.call('SET', KEYS[i], off, 'NX', 'PX', ARGV[2]) then
    local v = redis.call('GET', KEYS[i])
    if v == false then redis.call('SET', KEYS[i], off, 'PX', ARGV[2])
    elseif v ~= off then dup = 1 end
  end
  out[i] = dup
end
return out
