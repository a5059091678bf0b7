-- revoke_refresh.lua: RevokeToken. Every access token sharing the refresh token's origin_jti
-- is revoked, and the refresh token with them.
--
-- KEYS[1] user    HASH the user: its "revoked" flag tells sessions to consult the set
-- KEYS[2] revoked SET  revoked origin_jti values
-- KEYS[3] refresh HASH the user's live refresh tokens: origin_jti -> client id, and each
--                      rotated family's state ("<origin_jti>>", auth_refresh.lua)
-- ARGV[1] the refresh token's origin_jti
-- ARGV[2] the client id the caller named
--
-- Returns "OK" (revoked, or already gone: Cognito answers 200 for a revoked or invalid token),
-- or "OTHER_CLIENT" when the refresh token was issued to another app client.
local client = redis.call('HGET', KEYS[3], ARGV[1])
if not client then
  return 'OK'
end
if client ~= ARGV[2] then
  return 'OTHER_CLIENT'
end
redis.call('HDEL', KEYS[3], ARGV[1], ARGV[1] .. '>')
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[1], 'revoked', '1')
end
return 'OK'
