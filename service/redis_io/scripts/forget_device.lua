-- forget_device.lua: ForgetDevice after the session prelude (_session.lua): the device's hash
-- its place in the user's devices and the user's devices version go together.
--
-- KEYS[4] devices HASH the user's device keys
-- KEYS[5] device  HASH the device
-- ARGV[11] the device key
--
-- Returns the session's refusal, {"NO_DEVICE"} (no such device of this user), or {"OK"}.
local refusal = session()
if refusal then
  return refusal
end
if redis.call('EXISTS', KEYS[5]) == 0 then
  return {'NO_DEVICE'}
end
redis.call('DEL', KEYS[5])
redis.call('HDEL', device_index(KEYS[4]), ARGV[11])
redis.call('HINCRBY', KEYS[2], 'dv', 1)
return {'OK'}
