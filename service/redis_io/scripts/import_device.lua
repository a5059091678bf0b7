-- import_device.lua: write one device exactly as given (dates included), replacing any device
-- of that key, for an existing user (or a new one when ARGV[2] names a sub for it).
--
-- Whole or absent: Redis does not undo what a script wrote before an error stopped it, so every
-- step that can fail comes before the device's own writes. ARGV is checked against MAX_FIELDS
-- (the limit service/devices_format.py holds a line to) before `unpack`, which fails from
-- 8,000 values on (LUAI_MAXCSTACK): that failure, after the DEL below, once left a device
-- deleted but still indexed, and its user's devices version (`dv`) not bumped. A user key of
-- the wrong type fails the HLEN, before any write; a `dv` that is not a number fails the first
-- write; an index of the wrong type fails the second, which leaves only `dv` bumped (that only
-- makes workers read the user's devices again).
--
-- KEYS[1] user    HASH the user
-- KEYS[2] devices HASH the user's device keys
-- KEYS[3] device  HASH the device
-- ARGV[1] the device key
-- ARGV[2] a sub to create the user with (CONFIRMED, enabled) when it does not exist, or ''
--         to refuse instead
-- ARGV[3] the username (stored in a user this creates)
-- ARGV[4..] field, value, ... of the device: the whole hash, dates as epoch milliseconds; 1 to
--         MAX_FIELDS pairs
--
-- Returns 1 (a new device), 2 (a device of that key replaced), 0 when the user does not exist
-- and ARGV[2] is '', or -1 when ARGV[4..] is not 1 to MAX_FIELDS pairs; after 0 or -1 nothing
-- was written, after an error reply the device is as it was.
local MAX_FIELDS = 28
local pairs_given = (#ARGV - 3) / 2
if pairs_given < 1 or pairs_given > MAX_FIELDS or pairs_given % 1 ~= 0 then
  return -1
end
local exists = redis.call('HLEN', KEYS[1]) > 0  -- WRONGTYPE here, before any write
if not exists and ARGV[2] == '' then
  return 0
end
local replaced = redis.call('EXISTS', KEYS[3]) == 1
if exists then
  redis.call('HINCRBY', KEYS[1], 'dv', 1)
end
redis.call('HSET', device_index(KEYS[2]), ARGV[1], '1')
if not exists then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[1], 'username', ARGV[3], 'sub', ARGV[2], 'status', 'CONFIRMED',
    'enabled', '1', 'created_ms', now_ms, 'modified_ms', now_ms, 'dv', 1)
end
if replaced then
  redis.call('DEL', KEYS[3])
end
redis.call('HSET', KEYS[3], unpack(ARGV, 4))
if replaced then
  return 2
end
return 1
