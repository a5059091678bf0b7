-- update_device_status.lua: UpdateDeviceStatus after the session prelude (_session.lua).
--
-- KEYS[4]  device HASH the device
-- ARGV[11] status "remembered" or "not_remembered"
--
-- Returns the session's refusal, {"NO_DEVICE"} (no such confirmed device of this user), or
-- {"OK"}; the device's modified_ms becomes now (Redis's clock).
local refusal, now_us = session()
if refusal then
  return refusal
end
local d = redis.call('HMGET', KEYS[4], 'key', 'confirmed')
if not d[1] or d[2] == '0' then
  return {'NO_DEVICE'}
end
redis.call('HSET', KEYS[4], 'remembered', ARGV[11], 'modified_ms', math.floor(now_us / 1000))
redis.call('HINCRBY', KEYS[2], 'dv', 1)
return {'OK'}
