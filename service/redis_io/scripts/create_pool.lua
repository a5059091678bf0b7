-- create_pool.lua: create a pool unless a live pool has its id or its issuer. One script over
-- keys that share the {pools} tag, so the record, the id set, the issuer index and the
-- version change together or not at all, and two concurrent creates cannot both succeed.
--
-- KEYS[1] record  HASH the pool's record (a deleted pool's record is replaced)
-- KEYS[2] ids     SET  every pool id
-- KEYS[3] issuers HASH issuer -> id of the live pool owning it
-- KEYS[4] version STR  set to ARGV[3]: workers reload pools when it changes
-- ARGV[1] pool id
-- ARGV[2] issuer
-- ARGV[3] the new version value
-- ARGV[4..] field, value, field, value, ... of the new record
--
-- Returns "OK", "REPLACED" (created over a deleted pool's record), "EXISTS" (a live pool has
-- this id) or "ISSUER_TAKEN" (a live pool has this issuer).
local deleted = redis.call('HGET', KEYS[1], 'deleted')
if deleted and deleted ~= '1' then
  return 'EXISTS'
end
local owner = redis.call('HGET', KEYS[3], ARGV[2])
if owner and owner ~= ARGV[1] then
  return 'ISSUER_TAKEN'
end
-- Only a deleted pool's record is there to replace: a DEL of nothing would still count as a
-- write and let the script write past maxmemory.
if deleted then
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('SET', KEYS[4], ARGV[3])
if deleted then
  return 'REPLACED'
end
return 'OK'
