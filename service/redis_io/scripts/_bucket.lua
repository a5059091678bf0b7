-- _bucket.lua: the token bucket, shared by get_device.lua and take_token.lua (the loader in
-- service/lua.py puts this before each of them; Redis sees one script).
--
-- take_token(tokens, ts_us, rate, burst, now_us): a bucket that held `tokens` at `ts_us`
-- (strings from Redis, or nil for a new, full bucket) refills at `rate` tokens per second up
-- to `burst`; take one token if there is one. Returns the tokens left and whether one was
-- taken. The caller stores the tokens left with now_us (spend() below does both).
local function take_token(tokens, ts_us, rate, burst, now_us)
  tokens = tonumber(tokens)
  ts_us = tonumber(ts_us)
  if tokens == nil or ts_us == nil then
    tokens = burst
    ts_us = now_us
  end
  -- After a failover the new primary's clock may be behind: never refill on negative time.
  local elapsed_us = math.max(0, now_us - ts_us)
  tokens = math.min(burst, tokens + elapsed_us * rate / 1000000)
  if tokens >= 1 then
    return tokens - 1, true
  end
  return tokens, false
end

-- spend(key, tokens_field, ts_field, tokens, ts_us, rate, burst, now_us): take_token() on the
-- bucket kept in hash `key`'s two fields (their values as read passed in), storing what is
-- left. Returns whether a token was taken.
local function spend(key, tokens_field, ts_field, tokens, ts_us, rate, burst, now_us)
  local left, taken = take_token(tokens, ts_us, rate, burst, now_us)
  redis.call('HSET', key, tokens_field, left, ts_field, now_us)
  return taken
end

