-- park_take.lua: takes records off the head of a parked key's list, once
-- they are released or dropped (eos/README.md, "Parked keys"). Called by
-- eos/park.c:kf_park_take.
--
-- KEYS  [1] T:pk  [2] T:pk:<field>
-- ARGV  [1] field  [2] n (>= 1)  [3] the offset the head must have
--
-- Every entry starts with "<offset> ". The n head entries are removed only
-- when the head is the one the caller took (a second caller, or a list
-- that changed, gets {2} and nothing happens). When that empties the list
-- the key is no longer parked: its summary goes too, and the key's next
-- record runs again. Reply: {0} (more left), {1} (the key is released),
-- {2} (not taken).
local head = redis.call('LINDEX', KEYS[2], 0)
if not head or string.match(head, '^(%d+) ') ~= ARGV[3] then return {2} end
local meta = redis.call('HGET', KEYS[1], ARGV[1])
if not meta then return {2} end
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
local left = redis.call('LLEN', KEYS[2])
if left == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return {1}
end
local _, first, _, last, err = string.match(meta, '^(%d+) (%-?%d+) (%d+) (%d+) (.*)$')
local nh = redis.call('LINDEX', KEYS[2], 0)
redis.call('HSET', KEYS[1], ARGV[1],
  string.format('%d', left) .. ' ' .. first .. ' ' .. string.match(nh, '^(%d+) ') .. ' ' .. last .. ' ' .. err)
return {0}
