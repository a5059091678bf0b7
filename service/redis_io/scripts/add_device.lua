-- add_device.lua: register a device of an existing user (its hash, its place in the user's
-- devices and the user's devices version `dv`, together). Never creates keys for a user who does not exist.
--
-- KEYS[1] user    HASH the user
-- KEYS[2] devices HASH the user's device keys (each -> "1")
-- KEYS[3] device  HASH the device
-- ARGV[1] the device key
-- ARGV[2] the user's sub: a user deleted and created again under the name is another user
-- ARGV[3..] field, value, ... of the device; create_ms, modified_ms and last_auth_ms (whole
--         seconds, as Cognito reports it) are added from Redis's clock
--
-- Returns the creation time in ms, or false when the user does not exist.
if redis.call('HGET', KEYS[1], 'sub') ~= ARGV[2] then
  return false
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Only when there is one: a write, even a DEL of nothing, would let the rest of the script
-- write past maxmemory (Redis refuses a script under OOM only before its first write).
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('DEL', KEYS[3])
end
redis.call('HSET', KEYS[3], 'create_ms', now_ms, 'modified_ms', now_ms,
  'last_auth_ms', math.floor(now_ms / 1000) * 1000, unpack(ARGV, 3))
redis.call('HSET', device_index(KEYS[2]), ARGV[1], '1')
redis.call('HINCRBY', KEYS[1], 'dv', 1)
return now_ms
