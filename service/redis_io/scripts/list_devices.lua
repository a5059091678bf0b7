-- list_devices.lua: ListDevices after the session prelude (_session.lua), in one user's slot.
--
-- Access-token calls see remembered, confirmed devices only. Order: newest created first, then
-- by device key; creation times never change, so a page boundary (the last device's creation
-- time and key) stays meaningful while devices are added, remembered or forgotten between
-- pages: no device is listed twice, and none that existed throughout is skipped.
--
-- A conditional read, as HTTP's ETag: the user's devices are at version "<sub>:<dv>" (every
-- script that changes a device of the user increments the user's `dv` in the same script, and
-- a user deleted and made again has a new sub). A worker that holds the whole list rendered at
-- a version passes it; while it is still current the answer is "SAME" and no device is read.
--
-- KEYS[4]  devices HASH the user's device keys
-- ARGV[11] limit   devices per page (1..60)
-- ARGV[12] after_ms  the page boundary's creation time (ms), or "" for the first page
-- ARGV[13] after_key the page boundary's device key
-- ARGV[14] base    the user's key: each device hash is base .. ":device:" .. key (undeclared,
--                  but in KEYS[2]'s slot by its hash tag, which a cluster allows)
-- ARGV[15] version the version of the list the caller holds, or "" for none
--
-- Returns the session's refusal, {"OK", "SAME"}, or {"OK", more, n, version, key, name, status,
-- last_ip, create_ms, modified_ms, last_auth_ms, ... (7 values for each of n devices)}; more is
-- 1 when another page follows the last device listed.
local refusal, _, sub = session()
if refusal then
  return refusal
end
local version = sub .. ':' .. (redis.call('HGET', KEYS[2], 'dv') or '0')
if ARGV[15] == version then
  return {'OK', 'SAME'}
end
local limit = tonumber(ARGV[11])
local after_ms = tonumber(ARGV[12])
local after_key = ARGV[13]

local listed = {}
for _, key in ipairs(redis.call('HKEYS', device_index(KEYS[4]))) do
  local d = redis.call('HMGET', ARGV[14] .. ':device:' .. key, 'key', 'name', 'status',
    'last_ip', 'create_ms', 'modified_ms', 'last_auth_ms', 'remembered', 'confirmed')
  local created = tonumber(d[5]) or 0
  if d[1] and d[8] == 'remembered' and d[9] ~= '0' and
      (not after_ms or created < after_ms or (created == after_ms and d[1] > after_key)) then
    d[10] = created
    listed[#listed + 1] = d
  end
end
table.sort(listed, function(a, b)
  if a[10] ~= b[10] then
    return a[10] > b[10]
  end
  return a[1] < b[1]
end)

local n = math.min(limit, #listed)
local out = {'OK', #listed > n and 1 or 0, n, version}
for i = 1, n do
  local d = listed[i]
  for j = 1, 7 do
    out[#out + 1] = d[j] or false
  end
end
return out
