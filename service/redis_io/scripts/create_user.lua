-- create_user.lua: create a user unless one has this name. The user is one hash, keyed by
-- pool, generation and username, so this is a single-key write.
--
-- KEYS[1] user HASH the user
-- ARGV[1] the new user's sub
-- ARGV[2..] field, value, ... of the new user (sub among them); created_ms is added from
--         Redis's clock
--
-- Returns the creation time in ms, or false when another user has the name. The same create
-- again (the same sub: a client retrying after a lost reply) answers as the first did.
local existing = redis.call('HMGET', KEYS[1], 'sub', 'created_ms')
if existing[1] then
  if existing[1] == ARGV[1] then
    return tonumber(existing[2])
  end
  return false
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'created_ms', now_ms, 'modified_ms', now_ms, unpack(ARGV, 2))
return now_ms
