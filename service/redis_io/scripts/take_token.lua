-- take_token.lua: take one token from a bucket (the pool-wide UserResourceRead quota).
-- Uses spend() from _bucket.lua.
--
-- KEYS[1] bucket HASH tokens (float), ts_us (server microseconds); expires when idle
-- ARGV[1] rate   tokens added per second
-- ARGV[2] burst  bucket size, in tokens
--
-- Returns 1 when a token was taken, 0 when the bucket is empty.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])

local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts_us')
local taken = spend(KEYS[1], 'tokens', 'ts_us', b[1], b[2], rate, burst, now_us)
-- Idle long enough to be full again: the key may go.
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
if taken then
  return 1
end
return 0
