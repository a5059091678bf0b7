-- device_keys.lua: the keys of a user's devices (admin and offline reads), turning an index
-- that an earlier release wrote as a SET into the HASH first (_devices.lua).
--
-- KEYS[1] devices HASH the user's device keys
--
-- Returns the device keys, in no order.
return redis.call('HKEYS', device_index(KEYS[1]))
