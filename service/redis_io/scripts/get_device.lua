-- get_device.lua: GetDevice after the session prelude (_session.lua), in one user's hash slot.
--
-- A conditional read, as list_devices.lua's: a worker that holds this device's answer passes
-- the version of the user's devices it was read at ("<sub>:<dv>"; every script that changes a
-- device of the user increments `dv`). While that is still the version, the device is as it
-- was (remembered and confirmed, or the worker would hold no answer) and is not read.
--
-- KEYS[4]  device  HASH the device asked for
-- ARGV[11] version the version the caller holds the device's answer at, or "" (or absent) for
--                  none
--
-- Returns the session's refusal, {"OK", "SAME"}, {"NO_DEVICE"} (no such device, or one the
-- user has not remembered or not confirmed: access-token calls see remembered, confirmed
-- devices only), or {"OK", device_key, name, status, last_ip, create_ms, modified_ms,
-- last_auth_ms, version}.
local refusal, _, sub = session()
if refusal then
  return refusal
end
local version = sub .. ':' .. (redis.call('HGET', KEYS[2], 'dv') or '0')
if ARGV[11] == version then
  return {'OK', 'SAME'}
end
local d = redis.call('HMGET', KEYS[4], 'key', 'name', 'status', 'remembered', 'last_ip',
  'create_ms', 'modified_ms', 'last_auth_ms', 'confirmed')
if not d[1] or d[4] ~= 'remembered' or d[9] == '0' then
  return {'NO_DEVICE'}
end
return {'OK', d[1], d[2] or false, d[3] or false, d[5] or false, d[6] or false, d[7] or false,
  d[8] or false, version}
