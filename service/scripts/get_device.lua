-- get_device.lua: GetDevice after the session prelude (_session.lua), in one user's hash slot.
--
-- KEYS[4] device HASH the device asked for
--
-- Returns the session's refusal, {"NO_DEVICE"} (no such device, or one the user has not
-- remembered or not confirmed: access-token calls see remembered, confirmed devices only), or
-- {"OK", device_key, name, status, last_ip, create_ms, modified_ms, last_auth_ms}.
local refusal = session()
if refusal then
  return refusal
end
local d = redis.call('HMGET', KEYS[4], 'key', 'name', 'status', 'remembered', 'last_ip',
  'create_ms', 'modified_ms', 'last_auth_ms', 'confirmed')
if not d[1] or d[4] ~= 'remembered' or d[9] == '0' then
  return {'NO_DEVICE'}
end
return {'OK', d[1], d[2] or false, d[3] or false, d[5] or false, d[6] or false, d[7] or false,
  d[8] or false}
