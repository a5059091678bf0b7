-- update_pool.lua: change fields of a live pool and announce the change, together.
--
-- KEYS[1] record  HASH the pool's record
-- KEYS[2] version STR  set to ARGV[1]
-- ARGV[1] the new version value
-- ARGV[2..] field, value, ... to set
--
-- Returns 1, or 0 when no live pool has this record.
local deleted = redis.call('HGET', KEYS[1], 'deleted')
if not deleted or deleted == '1' then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SET', KEYS[2], ARGV[1])
return 1
