-- confirm_device.lua: ConfirmDevice after the session prelude (_session.lua). A device is
-- born unconfirmed at sign-in (confirmed "0"); confirming stores its SRP verifier and salt (for
-- device authentication), its name, and its first remembered status.
--
-- KEYS[5]  devices SET  the user's device keys
-- KEYS[6]  device  HASH the device
-- ARGV[12] the device key
-- ARGV[13] verifier (PasswordVerifier, or "")
-- ARGV[14] salt     (Salt, or "")
-- ARGV[15] name     (DeviceName, or "" for none)
-- ARGV[16] remembered status after confirmation: "remembered", or "not_remembered" when the
--          pool remembers devices only on the user's prompt
--
-- Returns the session's refusal, {"BAD_KEY"} (no such device of this user), {"CONFIRMED"}
-- (already confirmed), or {"OK"}.
local refusal, now_us = session()
if refusal then
  return refusal
end
local d = redis.call('HMGET', KEYS[6], 'key', 'confirmed')
if not d[1] then
  return {'BAD_KEY'}
end
if d[2] ~= '0' then
  return {'CONFIRMED'}
end
local now_ms = math.floor(now_us / 1000)
redis.call('HSET', KEYS[6], 'confirmed', '1', 'verifier', ARGV[13], 'salt', ARGV[14],
  'remembered', ARGV[16], 'modified_ms', now_ms)
if ARGV[15] ~= '' then
  redis.call('HSET', KEYS[6], 'name', ARGV[15])
end
redis.call('SADD', KEYS[5], ARGV[12])
return {'OK'}
