-- take_token.lua: take one token from a bucket (the pool-wide UserResourceRead quota).
--
-- KEYS[1] bucket HASH tokens (float), ts_us (server microseconds)
-- ARGV[1] rate   tokens added per second
-- ARGV[2] burst  bucket size, in tokens
--
-- Returns 1 when a token was taken, 0 when the bucket is empty.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])

local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])

local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts_us')
local tokens = tonumber(b[1])
local ts_us = tonumber(b[2])
if tokens == nil or ts_us == nil then
  tokens = burst
  ts_us = now_us
end
local elapsed_us = math.max(0, now_us - ts_us)
tokens = math.min(burst, tokens + elapsed_us * rate / 1000000)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts_us', now_us)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return taken
