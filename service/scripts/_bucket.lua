-- _bucket.lua: the token bucket, shared by get_device.lua and take_token.lua (the loader in
-- service/lua.py puts this before each of them; Redis sees one script).
--
-- take_token(key, rate, burst, now_us): refill `key` (HASH tokens, ts_us) at `rate` tokens per
-- second up to `burst`, then take one token if there is one. Returns true when one was taken.
local function take_token(key, rate, burst, now_us)
  local b = redis.call('HMGET', key, 'tokens', 'ts_us')
  local tokens = tonumber(b[1])
  local ts_us = tonumber(b[2])
  if tokens == nil or ts_us == nil then
    tokens = burst
    ts_us = now_us
  end
  -- After a failover the new primary's clock may be behind: never refill on negative time.
  local elapsed_us = math.max(0, now_us - ts_us)
  tokens = math.min(burst, tokens + elapsed_us * rate / 1000000)
  local taken = tokens >= 1
  if taken then
    tokens = tokens - 1
  end
  redis.call('HSET', key, 'tokens', tokens, 'ts_us', now_us)
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  return taken
end

