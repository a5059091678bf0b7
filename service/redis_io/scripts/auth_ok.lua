-- auth_ok.lua: a successful sign-in, just before its tokens are minted: the failed-sign-in count
-- starts again, the device is registered (a new one, unconfirmed until ConfirmDevice) or its
-- last sign-in recorded, and the refresh token's origin_jti is recorded (RevokeToken deletes it).
--
-- KEYS[1] user    HASH the user
-- KEYS[2] devices HASH the user's device keys
-- KEYS[3] device  HASH the device (a key that never exists when none)
-- KEYS[4] refresh HASH live refresh tokens: origin_jti -> client id
-- ARGV[1] the user's sub
-- ARGV[2] device: "new" (register ARGV[3] with group ARGV[4]), "seen" (an existing one signed in
--         again), or ""
-- ARGV[3] device key
-- ARGV[4] device group key
-- ARGV[5] the client's IP (last_ip_used)
-- ARGV[6] the refresh token's origin_jti
-- ARGV[7] the app client id
-- ARGV[8] with fields to set: the password's salt the sign-in's session began with (its
--         version: every password change writes a new salt); "" with none
-- ARGV[9..] field, value, ... to set on the user (a new password's salt and verifier, status)
--
-- Returns when the tokens are issued, ms on the clock sign-outs use: the server time, or one
-- ms after the user's last sign-out if that is later (a sign-out in the same ms must not
-- revoke tokens issued after it; see _session.lua). False when the user does not exist;
-- "STALE" (nothing written) when the password changed since the session began: a sign-in begun
-- with an old password must not replace the new one.
local u = redis.call('HMGET', KEYS[1], 'sub', 'signed_out_ms', 'srp_salt')
if u[1] ~= ARGV[1] then
  return false
end
if #ARGV > 8 and u[3] ~= ARGV[8] then
  return 'STALE'
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local issued_ms = math.max(now_ms, (tonumber(u[2]) or 0) + 1)
local auth_ms = math.floor(now_ms / 1000) * 1000
redis.call('HDEL', KEYS[1], 'fail_count', 'fail_ms', 'lock_until_ms')
if #ARGV > 8 then
  redis.call('HSET', KEYS[1], 'modified_ms', now_ms, unpack(ARGV, 9))
end
if ARGV[2] == 'new' then
  redis.call('HSET', KEYS[3], 'key', ARGV[3], 'status', 'valid', 'remembered', 'not_remembered',
    'confirmed', '0', 'group', ARGV[4], 'last_ip', ARGV[5], 'sdk', 'aws-sdk', 'create_ms', now_ms,
    'modified_ms', now_ms, 'last_auth_ms', auth_ms)
  redis.call('HSET', device_index(KEYS[2]), ARGV[3], '1')
  redis.call('HINCRBY', KEYS[1], 'dv', 1)
elseif ARGV[2] == 'seen' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'last_auth_ms', auth_ms, 'last_ip', ARGV[5])
  redis.call('HINCRBY', KEYS[1], 'dv', 1)
end
redis.call('HSET', KEYS[4], ARGV[6], ARGV[7])
return issued_ms
