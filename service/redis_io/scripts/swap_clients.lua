-- swap_clients.lua: replace a live pool's app clients (its `clients` JSON list), only if they
-- are still what the caller read (compare-and-set: CreateUserPoolClient and
-- DeleteUserPoolClient read, change and write back), and announce the change.
--
-- KEYS[1] record  HASH the pool's record
-- KEYS[2] version STR  set to ARGV[1]: workers reload pools when it changes
-- ARGV[1] the new version value
-- ARGV[2] the `clients` value the caller read
-- ARGV[3] the new `clients` value
--
-- Returns 1, or 0 when the pool is not live or its clients changed meanwhile.
local d = redis.call('HMGET', KEYS[1], 'deleted', 'clients')
if not d[1] or d[1] == '1' or (d[2] or '[]') ~= ARGV[2] then
  return 0
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'clients', ARGV[3], 'modified_ms', now_ms)
redis.call('SET', KEYS[2], ARGV[1])
return 1
