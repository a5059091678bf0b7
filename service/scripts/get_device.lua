-- get_device.lua: the whole warm path of GetDevice in one round trip, in one user's hash slot.
-- Uses take_token() from _bucket.lua.
--
-- KEYS[1] claims  HASH  cached verified claims of this access token: exp, iat (epoch seconds),
--                       ojti (origin_jti or ""), sub
-- KEYS[2] user    HASH  sub, status, enabled ("1" only), signed_out_ms, revoked ("1"
--                       once any origin_jti is revoked), and the user's token bucket:
--                       bucket_tokens (float), bucket_ts_us (server microseconds)
-- KEYS[3] revoked SET   revoked origin_jti values
-- KEYS[4] device  HASH  the device asked for
-- KEYS[5] index   (store) ZSET of the user's cached digests by exp, so deleting a user can find
--                 them; expired ones are dropped on each store
-- ARGV[1] rate    tokens added per second
-- ARGV[2] burst   bucket size, in tokens
-- ARGV[3] skew_ms a sign-out also revokes tokens whose iat is up to this far after it: 0 for
--                 pools that mint with this Redis's clock, more for tokens of other clocks
-- ARGV[4] store   1: the caller has just verified the token and passes its claims below; 0: use cache
-- ARGV[5] exp     (store) token expiry, epoch seconds
-- ARGV[6] iat     (store) token issue time, epoch seconds
-- ARGV[7] ojti    (store) the token's origin_jti, or ""
-- ARGV[8] sub     (store) the token's sub
-- ARGV[9] max_ttl (store) upper bound of the cache entry's life, milliseconds
-- ARGV[10] digest (store) the claims key's digest, recorded in the index
--
-- Returns {code, ...}: {"MISS"} (not cached: verify and call again with store=1), {"EXPIRED"},
-- {"NO_USER"}, {"REVOKED"}, {"THROTTLED"}, {"DISABLED"}, {"STATUS", status}, {"NO_DEVICE"}, or
-- {"OK", device_key, name, status, remembered, last_ip, sdk,
--  create_ms, modified_ms, last_auth_ms}.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local skew_ms = tonumber(ARGV[3])
local store = tonumber(ARGV[4])

local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)

local exp, iat, ojti, sub
if store == 1 then
  exp = tonumber(ARGV[5])
  iat = tonumber(ARGV[6])
  ojti = ARGV[7]
  sub = ARGV[8]
else
  local c = redis.call('HMGET', KEYS[1], 'exp', 'iat', 'ojti', 'sub')
  if not c[1] then
    return {'MISS'}
  end
  exp = tonumber(c[1])
  iat = tonumber(c[2])
  ojti = c[3]
  sub = c[4]
end
if exp * 1000 <= now_ms then
  return {'EXPIRED'}
end

-- One read of the user hash gives the user's state, revocation flag and bucket.
local u = redis.call('HMGET', KEYS[2], 'status', 'enabled', 'signed_out_ms', 'sub',
  'revoked', 'bucket_tokens', 'bucket_ts_us')
-- A user deleted and created again under the same name is another user: the token's sub
-- must be the user's. Checked before anything is stored, so a deleted user's token never
-- recreates keys for them.
if not u[4] or u[4] ~= sub then
  return {'NO_USER'}
end

if store == 1 then
  local ttl_ms = math.min(exp * 1000 - now_ms, tonumber(ARGV[9]))
  redis.call('HSET', KEYS[1], 'exp', ARGV[5], 'iat', ARGV[6], 'ojti', ojti, 'sub', sub)
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
  redis.call('ZADD', KEYS[5], exp, ARGV[10])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. math.floor(now_ms / 1000))
  redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[9]))
end

-- A sign-out revokes every token issued before it; iat has whole seconds, so a token issued in
-- the same second as the sign-out counts as earlier (revoking too much is the safe side).
local signed_out_ms = tonumber(u[3])
if signed_out_ms and iat * 1000 <= signed_out_ms + skew_ms then
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

-- Only "1" is enabled, and only the statuses that may hold tokens pass: anything else, unknown
-- or malformed (written by another system), is refused, never let through.
if u[2] ~= '1' then
  return {'DISABLED'}
end
if u[1] ~= 'CONFIRMED' and u[1] ~= 'EXTERNAL_PROVIDER' then
  return {'STATUS', u[1] or ''}
end

local d = redis.call('HMGET', KEYS[4], 'key', 'name', 'status', 'remembered', 'last_ip', 'sdk',
  'create_ms', 'modified_ms', 'last_auth_ms')
if not d[1] then
  return {'NO_DEVICE'}
end
return {'OK', d[1], d[2] or false, d[3] or false, d[4] or false, d[5] or false, d[6] or false,
  d[7] or false, d[8] or false, d[9] or false}
