-- get_device.lua: the whole warm path of GetDevice in one round trip, in one user's hash slot.
-- Uses take_token() from _bucket.lua.
--
-- KEYS[1] claims  HASH  cached verified claims of this access token (exp, iat, ojti, claims)
-- KEYS[2] user    HASH  status, enabled, signed_out_ms, username, revoked ("1" once any
--                       origin_jti is revoked), and the user's token bucket: bucket_tokens
--                       (float), bucket_ts_us (server microseconds)
-- KEYS[3] revoked SET   revoked origin_jti values
-- KEYS[4] device  HASH  the device asked for
-- ARGV[1] rate    tokens added per second
-- ARGV[2] burst   bucket size, in tokens
-- ARGV[3] store   1: the caller has just verified the token and passes its claims below; 0: use cache
-- ARGV[4] exp     (store) token expiry, epoch seconds
-- ARGV[5] iat     (store) token issue time, epoch seconds
-- ARGV[6] ojti    (store) the token's origin_jti, or ""
-- ARGV[7] claims  (store) the verified claims as JSON
-- ARGV[8] max_ttl (store) upper bound of the cache entry's life, milliseconds
-- ARGV[9] digest  (store) the claims key's digest, recorded in the index below
-- KEYS[5] index   (store) ZSET of the user's cached digests by exp, so deleting a user can find
--                 them; expired ones are dropped on each store
--
-- Returns {code, ...}: {"MISS"} (not cached: verify and call again with store=1), {"EXPIRED"},
-- {"NO_USER"}, {"REVOKED"}, {"THROTTLED"}, {"DISABLED"}, {"STATUS", status}, {"NO_DEVICE"}, or
-- {"OK", username, device_key, name, status, remembered, last_ip, sdk,
--  create_ms, modified_ms, last_auth_ms}.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local store = tonumber(ARGV[3])

local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)

local exp, iat, ojti
if store == 1 then
  exp = tonumber(ARGV[4])
  iat = tonumber(ARGV[5])
  ojti = ARGV[6]
  if exp * 1000 <= now_ms then
    return {'EXPIRED'}
  end
  local ttl_ms = math.min(exp * 1000 - now_ms, tonumber(ARGV[8]))
  redis.call('HSET', KEYS[1], 'exp', ARGV[4], 'iat', ARGV[5], 'ojti', ojti, 'claims', ARGV[7])
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
  redis.call('ZADD', KEYS[5], exp, ARGV[9])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. math.floor(now_ms / 1000))
  redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[8]))
else
  local c = redis.call('HMGET', KEYS[1], 'exp', 'iat', 'ojti')
  if not c[1] then
    return {'MISS'}
  end
  exp = tonumber(c[1])
  iat = tonumber(c[2])
  ojti = c[3]
  if exp * 1000 <= now_ms then
    return {'EXPIRED'}
  end
end

-- One read of the user hash gives the user's state, revocation flag and bucket.
local u = redis.call('HMGET', KEYS[2], 'status', 'enabled', 'signed_out_ms', 'username',
  'revoked', 'bucket_tokens', 'bucket_ts_us')
if not u[1] then
  return {'NO_USER'}
end
-- A sign-out revokes every token issued before it; iat has whole seconds, so a token issued in
-- the same second as the sign-out counts as earlier (revoking too much is the safe side).
local signed_out_ms = tonumber(u[3])
if signed_out_ms and iat * 1000 <= signed_out_ms then
  return {'REVOKED'}
end
-- The set is consulted only for users who have had a token revoked (most never have).
if u[5] == '1' and ojti and ojti ~= '' and redis.call('SISMEMBER', KEYS[3], ojti) == 1 then
  return {'REVOKED'}
end

local left, taken = take_token(u[6], u[7], rate, burst, now_us)
redis.call('HSET', KEYS[2], 'bucket_tokens', left, 'bucket_ts_us', now_us)
if not taken then
  return {'THROTTLED'}
end

if u[2] == '0' then
  return {'DISABLED'}
end
if u[1] == 'UNCONFIRMED' or u[1] == 'RESET_REQUIRED' then
  return {'STATUS', u[1]}
end

local d = redis.call('HMGET', KEYS[4], 'key', 'name', 'status', 'remembered', 'last_ip', 'sdk',
  'create_ms', 'modified_ms', 'last_auth_ms')
if not d[1] then
  return {'NO_DEVICE'}
end
return {'OK', u[4], d[1], d[2] or false, d[3] or false, d[4] or false, d[5] or false, d[6] or false,
  d[7] or false, d[8] or false, d[9] or false}
