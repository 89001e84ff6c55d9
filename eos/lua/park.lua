-- park.lua: parks records of one partition by key (eos/README.md, "Parked
-- keys"). Called by eos/park.c:kf_park_put.
-- prelude: common.lua
--
-- KEYS  [1] T:epoch  [2] T:pk (hash: field -> the key's summary), then one
--       T:pk:<field> (list: the key's parked records, in offset order) per
--       record
-- ARGV  [1] epoch  [2] now (ms), then five per record, in the order of
--       their keys: field, offset, must, entry, error
--
-- A field is "k" followed by the key's bytes, or "n" for a null key. A
-- summary is "<count> <first_ms> <first_offset> <last_offset> <error>": the
-- records the list holds, when and where the key was parked, the last
-- offset parked, and the first record's error.
--
-- Fenced (T:epoch does not hold ARGV[1]): nothing is written, reply {1}.
-- Otherwise, per record: a record of a key that is parked joins its list in
-- offset order (0): appended when it is above the key's last offset, else
-- (a sink's refusal of an earlier record can come back after a later one's)
-- put before the first entry above it, unless its offset is there already
-- (a replay: left as it is). A record of a key that is not parked is
-- appended and parks the key when `must` is "1" (it failed: 0), else it is
-- not parked (1: the key was released, the record runs).
-- Reply: {0, r_1, ..., r_n}.
if stale(KEYS[1], ARGV[1]) then return {1} end
local out = {0}
for i = 1, #KEYS - 2 do
  local b = 3 + (i - 1) * 5
  local field, off, must, entry, why = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local meta = redis.call('HGET', KEYS[2], field)
  local r = 0
  if not meta then
    if must == '1' then
      redis.call('RPUSH', KEYS[2 + i], entry)
      redis.call('HSET', KEYS[2], field, '1 ' .. ARGV[2] .. ' ' .. off .. ' ' .. off .. ' ' .. why)
    else
      r = 1
    end
  else
    local n, first, foff, last, err = string.match(meta, '^(%d+) (%-?%d+) (%d+) (%d+) (.*)$')
    local o = tonumber(off)
    if o > tonumber(last) then
      redis.call('RPUSH', KEYS[2 + i], entry)
      last = off
    else
      local before = false
      for _, e in ipairs(redis.call('LRANGE', KEYS[2 + i], 0, -1)) do
        local eo = tonumber(string.match(e, '^(%d+) '))
        if eo == o then before = nil break end
        if eo > o then before = e break end
      end
      if before == nil then
        n = nil
      elseif before then
        redis.call('LINSERT', KEYS[2 + i], 'BEFORE', before, entry)
      else
        redis.call('RPUSH', KEYS[2 + i], entry)
      end
    end
    if n then
      local head = redis.call('LINDEX', KEYS[2 + i], 0)
      redis.call('HSET', KEYS[2], field,
        string.format('%d', tonumber(n) + 1) .. ' ' .. first .. ' ' .. string.match(head, '^(%d+) ') .. ' ' .. last .. ' ' .. err)
    end
  end
  out[i + 1] = r
end
return out
