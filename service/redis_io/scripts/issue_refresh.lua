-- issue_refresh.lua: record a refresh token of an existing user (the token itself is opaque
-- to clients; what revoking and refreshing need is here, in the user's slot).
--
-- KEYS[1] user    HASH the user
-- KEYS[2] refresh HASH the user's live refresh tokens: origin_jti -> client id
-- ARGV[1] the refresh token's origin_jti
-- ARGV[2] the client id it was issued to
--
-- Returns 1, or 0 when the user does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
