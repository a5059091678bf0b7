-- seed_user.lua: create a user with its devices, or reuse the user and devices already there
-- (the seeder's one write per user, so a seed is atomic per user and a re-run creates nothing
-- twice). New users are CONFIRMED and enabled; new devices are remembered and confirmed.
--
-- KEYS[1]       user    HASH the user
-- KEYS[2]       devices HASH the user's device keys
-- KEYS[3]       refresh HASH the user's live refresh tokens: origin_jti -> client id
-- KEYS[4..3+K]  device  HASH one per fresh device key in ARGV[7..]
-- ARGV[1] username
-- ARGV[2] the sub of the user if it is new (an existing user keeps theirs)
-- ARGV[3] K: the number of devices the user should have at least
-- ARGV[4] the new devices' last_ip
-- ARGV[5] origin_jti of a refresh token to record, or '' for none
-- ARGV[6] the client id the refresh token is issued to
-- ARGV[7..6+K] fresh device keys, used only for devices the user still lacks
--
-- Returns {sub, 1 when the user is new (else 0), devices created, device key, ...}: the
-- user's device keys, sorted. Devices get create_ms, modified_ms and last_auth_ms (whole seconds) from Redis's
-- clock, as add_device.lua does.
local want = tonumber(ARGV[3])
local sub = redis.call('HGET', KEYS[1], 'sub')
local created = 0
local have = {}
if sub then
  have = redis.call('HKEYS', device_index(KEYS[2]))
else
  sub = ARGV[2]
  created = 1
end
-- Nothing to write for a complete user without a refresh token: no write at all, so an OOM
-- Redis refuses nothing it has not begun (Redis refuses a script only before its first write).
local missing = want - #have
if created == 1 or missing > 0 or ARGV[5] ~= '' then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if created == 1 then
    redis.call('HSET', KEYS[1], 'username', ARGV[1], 'sub', sub, 'status', 'CONFIRMED',
      'enabled', '1', 'created_ms', now_ms, 'modified_ms', now_ms)
  end
  for i = 1, missing do
    local key = ARGV[6 + i]
    local n = #have + 1
    redis.call('HSET', KEYS[3 + i], 'key', key, 'name', ARGV[1] .. '-d' .. n,
      'status', 'valid', 'remembered', 'remembered', 'last_ip', ARGV[4], 'sdk', 'aws-sdk',
      'create_ms', now_ms, 'modified_ms', now_ms, 'last_auth_ms', math.floor(now_ms / 1000) * 1000)
    redis.call('HSET', KEYS[2], key, '1')
    have[n] = key
  end
  if missing > 0 then
    redis.call('HINCRBY', KEYS[1], 'dv', 1)
  end
  if ARGV[5] ~= '' then
    redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
  end
end
table.sort(have)
if missing < 0 then
  missing = 0
end
local answer = {sub, created, missing}
for i = 1, #have do
  answer[3 + i] = have[i]
end
return answer
