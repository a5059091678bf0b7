-- auth_refresh.lua: REFRESH_TOKEN_AUTH. A refresh token is good while its origin_jti is recorded
-- for its client (RevokeToken deletes it), no sign-out came after it was issued, and its user
-- may still sign in.
--
-- KEYS[1] user    HASH the user
-- KEYS[2] refresh HASH live refresh tokens: origin_jti -> client id
-- KEYS[3] device  HASH the device the token was issued with (a key that never exists when none)
-- ARGV[1] the token's sub
-- ARGV[2] its origin_jti
-- ARGV[3] the client id asking
-- ARGV[4] when it was issued, ms
-- ARGV[5] the client's IP
--
-- Returns {"NO_USER"}, {"REVOKED"}, {"DISABLED"}, {"STATUS", status} or {"OK", now_ms}.
local u = redis.call('HMGET', KEYS[1], 'sub', 'status', 'enabled', 'signed_out_ms')
if not u[1] or u[1] ~= ARGV[1] then
  return {'NO_USER'}
end
local client = redis.call('HGET', KEYS[2], ARGV[2])
if not client or client ~= ARGV[3] then
  return {'REVOKED'}
end
local signed_out_ms = tonumber(u[4])
if signed_out_ms and tonumber(ARGV[4]) <= signed_out_ms then
  return {'REVOKED'}
end
if u[3] ~= '1' then
  return {'DISABLED'}
end
if u[2] ~= 'CONFIRMED' and u[2] ~= 'EXTERNAL_PROVIDER' then
  return {'STATUS', u[2] or ''}
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'last_auth_ms', math.floor(now_ms / 1000) * 1000, 'last_ip', ARGV[5])
  redis.call('HINCRBY', KEYS[1], 'dv', 1)
end
return {'OK', now_ms}
