-- confirm_device.lua: ConfirmDevice after the session prelude (_session.lua). A device is
-- born unconfirmed at sign-in (confirmed "0"); confirming stores its SRP verifier and salt (for
-- device authentication), its name, and its first remembered status.
--
-- KEYS[4]  devices HASH the user's device keys
-- KEYS[5]  device  HASH the device
-- ARGV[11] the device key
-- ARGV[12] verifier (PasswordVerifier, or "")
-- ARGV[13] salt     (Salt, or "")
-- ARGV[14] name     (DeviceName, or "" for none)
-- ARGV[15] remembered status after confirmation: "remembered", or "not_remembered" when the
--          pool remembers devices only on the user's prompt
--
-- Returns the session's refusal, {"BAD_KEY"} (no such device of this user), {"CONFIRMED"}
-- (already confirmed), or {"OK"}.
local refusal, now_us = session()
if refusal then
  return refusal
end
local d = redis.call('HMGET', KEYS[5], 'key', 'confirmed')
if not d[1] then
  return {'BAD_KEY'}
end
if d[2] ~= '0' then
  return {'CONFIRMED'}
end
local now_ms = math.floor(now_us / 1000)
redis.call('HSET', KEYS[5], 'confirmed', '1', 'verifier', ARGV[12], 'salt', ARGV[13],
  'remembered', ARGV[15], 'modified_ms', now_ms)
if ARGV[14] ~= '' then
  redis.call('HSET', KEYS[5], 'name', ARGV[14])
end
redis.call('HSET', device_index(KEYS[4]), ARGV[11], '1')
redis.call('HINCRBY', KEYS[2], 'dv', 1)
return {'OK'}
