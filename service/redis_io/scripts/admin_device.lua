-- admin_device.lua: the admin device calls (AdminGetDevice, AdminUpdateDeviceStatus,
-- AdminForgetDevice), in the user's slot: the user and the device are checked and changed
-- together. Admin calls see every confirmed device, remembered or not.
--
-- KEYS[1] user    HASH the user
-- KEYS[2] devices HASH the user's device keys
-- KEYS[3] device  HASH the device
-- ARGV[1] the device key
-- ARGV[2] a new remembered status ("remembered" / "not_remembered"), or "" to leave it
-- ARGV[3] "1" to forget (delete) the device
--
-- Returns {"NO_USER"}, {"NO_DEVICE"}, or {"OK", field, value, ...} (the device's hash, as it
-- is after a status change, as it was before a forget). modified_ms is in ms, Redis's clock.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NO_USER'}
end
local confirmed = redis.call('HMGET', KEYS[3], 'key', 'confirmed')
if not confirmed[1] or confirmed[2] == '0' then
  return {'NO_DEVICE'}
end
if ARGV[2] ~= '' then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[3], 'remembered', ARGV[2], 'modified_ms', now_ms)
  redis.call('HINCRBY', KEYS[1], 'dv', 1)
end
local fields = redis.call('HGETALL', KEYS[3])
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[3])
  redis.call('HDEL', device_index(KEYS[2]), ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'dv', 1)
end
local reply = {'OK'}
for i = 1, #fields do
  reply[#reply + 1] = fields[i]
end
return reply
