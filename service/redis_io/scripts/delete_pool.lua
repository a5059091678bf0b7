-- delete_pool.lua: mark a live pool deleted, drop its private key, free its issuer, and
-- announce the change, together. The record stays as a tombstone with its public keys only, so
-- its tokens still verify and get "User pool ... does not exist." as Cognito answers; its
-- users' keys carry the pool's generation and are unreachable from now on (store.sweep_pool
-- collects them).
--
-- KEYS[1] record  HASH the pool's record
-- KEYS[2] issuers HASH issuer -> live pool id
-- KEYS[3] version STR  set to ARGV[2]
-- ARGV[1] pool id
-- ARGV[2] the new version value
--
-- Returns the deleted generation, or false when no live pool has this record.
local r = redis.call('HMGET', KEYS[1], 'deleted', 'issuer', 'gen')
if not r[1] or r[1] == '1' then
  return false
end
redis.call('HSET', KEYS[1], 'deleted', '1')
redis.call('HDEL', KEYS[1], 'private_pem', 'kid')
if r[2] and redis.call('HGET', KEYS[2], r[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], r[2])
end
redis.call('SET', KEYS[3], ARGV[2])
return r[3] or '0'
