-- import_device.lua: write one device exactly as given (dates included), replacing any device
-- of that key, for an existing user (or a new one when ARGV[2] names a sub for it).
--
-- KEYS[1] user    HASH the user
-- KEYS[2] devices HASH the user's device keys
-- KEYS[3] device  HASH the device
-- ARGV[1] the device key
-- ARGV[2] a sub to create the user with (CONFIRMED, enabled) when it does not exist, or ''
--         to refuse instead
-- ARGV[3] the username (stored in a user this creates)
-- ARGV[4..] field, value, ... of the device: the whole hash, dates as epoch milliseconds
--
-- Returns 1 (a new device), 2 (a device of that key replaced), or 0 when the user does not
-- exist and ARGV[2] is ''.
local exists = redis.call('EXISTS', KEYS[1]) == 1
if not exists and ARGV[2] == '' then
  return 0
end
local replaced = redis.call('EXISTS', KEYS[3]) == 1
if not exists then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[1], 'username', ARGV[3], 'sub', ARGV[2], 'status', 'CONFIRMED',
    'enabled', '1', 'created_ms', now_ms, 'modified_ms', now_ms)
end
if replaced then
  redis.call('DEL', KEYS[3])
end
redis.call('HSET', KEYS[3], unpack(ARGV, 4))
redis.call('HSET', device_index(KEYS[2]), ARGV[1], '1')
redis.call('HINCRBY', KEYS[1], 'dv', 1)
if replaced then
  return 2
end
return 1
