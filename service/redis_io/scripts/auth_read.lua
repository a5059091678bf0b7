-- auth_read.lua: the first step of every sign-in request (InitiateAuth, RespondToAuthChallenge):
-- the user's state, the device it presents, and (for a challenge response) its session, which
-- is used up here: a session answers one request only.
--
-- KEYS[1] user    HASH the user: sub, status, enabled, srp_salt, srp_verifier, lock_until_ms,
--                      and the per-user buckets (see _session.lua; sign-in has its own)
-- KEYS[2] device  HASH the device the request presents (a key that never exists when none)
-- KEYS[3] session HASH the sign-in session answered (a key that never exists when none): its
--                      field pw is the user's srp_salt when it was stored (auth_put.lua)
-- ARGV[1] the per-user bucket this request draws from ("sbucket", sign-in's own), or "" for none
-- ARGV[2] rate    tokens added per second
-- ARGV[3] burst   bucket size, in tokens
-- ARGV[4] "1": use up the session at KEYS[3]
-- ARGV[5] "1": the request presents a device (DEVICE_KEY), which must exist
-- ARGV[6] "1": the request proves a password (or a device's secret), checked after this script:
--         it counts as a failed sign-in here and now, before the check (see below)
-- ARGV[7] failures before the first lockout (5)
-- ARGV[8] longest lockout, ms (900000)
-- ARGV[9] a failure older than this, ms, is forgotten (900000)
--
-- Counting the attempt up front, in the script that checks the lockout, is what makes the
-- lockout hold under concurrency: counted after the check (a second script), any number of
-- parallel wrong passwords would all pass the check before the first was counted. A right
-- password then starts the count again (auth_ok.lua, auth_put.lua, auth_clear.lua), as the
-- developer guide's lockout describes. A RESET_REQUIRED user is refused before any check, so
-- nothing is counted for them here.
--
-- A password change ends the sessions begun before it: every change (AdminSetUserPassword,
-- set_password.lua, NEW_PASSWORD_REQUIRED's completion in auth_ok.lua, AdminCreateUser) writes
-- a fresh random srp_salt (service/srp.py), so the salt is the password's version, and a session
-- whose pw is not the user's salt now is refused as expired (used up all the same). Without
-- this, a NEW_PASSWORD_REQUIRED session begun with a temporary password still completed after
-- an admin had set a permanent one, and its new password replaced the admin's.
--
-- Checks, in this order: the user exists, the device exists (before the session is used up:
-- amazon-cognito-identity-js retries the same answer without its device when told the device
-- does not exist), the session (and its password), the bucket, enabled, the failed-sign-in
-- lockout.
-- Returns {"NO_USER"}, {"NO_DEVICE"}, {"NO_SESSION"} (expired or never made), {"USED_SESSION"},
-- {"STALE_SESSION"} (the password changed since), {"THROTTLED"}, {"DISABLED"}, {"LOCKED"}, or
-- {"OK", now_ms, sub, status, srp_salt, srp_verifier, device confirmed, device verifier,
--  device salt, device group, counted ("1" when this attempt was counted), session field,
--  value, ...}.
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local bucket = ARGV[1]
local tokens_field = bucket .. '_tokens'
local ts_field = bucket .. '_ts_us'
local u = redis.call('HMGET', KEYS[1], 'sub', 'status', 'enabled', 'srp_salt', 'srp_verifier',
  'lock_until_ms', tokens_field, ts_field, 'fail_count', 'fail_ms')
if not u[1] then
  return {'NO_USER'}
end
local d = {false, false, false, false, false}
if ARGV[5] == '1' then
  d = redis.call('HMGET', KEYS[2], 'key', 'confirmed', 'verifier', 'salt', 'group')
  if not d[1] then
    return {'NO_DEVICE'}
  end
end
local s = {}
if ARGV[4] == '1' then
  s = redis.call('HGETALL', KEYS[3])
  if #s == 0 then
    return {'NO_SESSION'}
  end
  local mark = redis.call('HMGET', KEYS[3], 'used', 'pw')
  if mark[1] == '1' then
    return {'USED_SESSION'}
  end
  -- Kept (with its TTL) as used, so a replay is told so rather than "expired".
  redis.call('HSET', KEYS[3], 'used', '1')
  if mark[2] ~= (u[4] or '') then
    return {'STALE_SESSION'}
  end
end
if bucket ~= '' and
    not spend(KEYS[1], tokens_field, ts_field, u[7], u[8], tonumber(ARGV[2]), tonumber(ARGV[3]),
      now_us) then
  return {'THROTTLED'}
end
if u[3] ~= '1' then
  return {'DISABLED'}
end
local lock = tonumber(u[6])
if lock and lock > now_ms then
  return {'LOCKED'}
end
local counted = '0'
if ARGV[6] == '1' and u[2] ~= 'RESET_REQUIRED' then
  counted = '1'
  count_failure(KEYS[1], u[9], u[10], now_ms, ARGV[7], ARGV[8], ARGV[9])
end
return {'OK', now_ms, u[1], u[2] or '', u[4] or '', u[5] or '', d[2] or '1', d[3] or '',
  d[4] or '', d[5] or '', counted, unpack(s)}
