-- revoke_origin.lua: revoke every token of a user that shares one origin_jti (RevokeToken).
--
-- KEYS[1] user    HASH the user; its "revoked" flag tells the hot path to consult the set
-- KEYS[2] revoked SET  revoked origin_jti values
-- ARGV[1] the origin_jti
--
-- Returns 1, or 0 when the user does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'revoked', '1')
return 1
