-- forget_device.lua: ForgetDevice after the session prelude (_session.lua): the device's hash
-- and its place in the user's set go together.
--
-- KEYS[5] devices SET  the user's device keys
-- KEYS[6] device  HASH the device
-- ARGV[12] the device key
--
-- Returns the session's refusal, {"NO_DEVICE"} (no such device of this user), or {"OK"}.
local refusal = session()
if refusal then
  return refusal
end
if redis.call('EXISTS', KEYS[6]) == 0 then
  return {'NO_DEVICE'}
end
redis.call('DEL', KEYS[6])
redis.call('SREM', KEYS[5], ARGV[12])
return {'OK'}
