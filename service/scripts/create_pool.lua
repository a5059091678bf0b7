-- create_pool.lua: create a pool's record unless a live pool has the id (a deleted one is
-- replaced). One script, so two concurrent creates cannot both succeed.
--
-- KEYS[1] pool HASH the pool's record
-- ARGV    field, value, field, value, ... of the new record
--
-- Returns 1 when the pool was created, 0 when a pool with this id exists.
local deleted = redis.call('HGET', KEYS[1], 'deleted')
if deleted and deleted ~= '1' then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
