-- update_user.lua: change an existing user's fields and, when asked, revoke every token issued
-- to them until now (sign-out, disable). Never creates a user.
--
-- KEYS[1] user HASH the user
-- ARGV[1] revoke: 1 to set signed_out_ms to now (Redis's clock, the one the hot path compares
--         token iat against), 0 not to
-- ARGV[2..] field, value, ... to set (may be none)
--
-- Returns the time of the change in ms, or false when the user does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'signed_out_ms', now_ms)
end
if #ARGV > 1 then
  redis.call('HSET', KEYS[1], 'modified_ms', now_ms, unpack(ARGV, 2))
end
return now_ms
