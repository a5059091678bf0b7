-- create_user.lua: create a user unless one has this name. The user is one hash, keyed by
-- pool, generation and username, so this is a single-key write.
--
-- KEYS[1] user HASH the user
-- ARGV    field, value, ... of the new user; created_ms is added from Redis's clock
--
-- Returns the creation time in ms, or false when the user exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'created_ms', now_ms, 'modified_ms', now_ms, unpack(ARGV))
return now_ms
