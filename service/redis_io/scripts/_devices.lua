-- _devices.lua: the user's device index, for every script that reads or changes it (the loader
-- in service/lua.py puts this before the script's body).
--
-- Releases before the index became a HASH kept it as a SET of device keys. device_index(key)
-- turns such a SET into the HASH in place (each key -> "1") the first time a script touches it,
-- so data written by those releases keeps working: nothing to run at upgrade, and one TYPE
-- (about a microsecond) per device write or uncached ListDevices after it.
local function device_index(key)
  if redis.call('TYPE', key)['ok'] == 'set' then
    local members = redis.call('SMEMBERS', key)
    redis.call('DEL', key)
    for i = 1, #members do
      redis.call('HSET', key, members[i], '1')
    end
  end
  return key
end

