-- auth_fail.lua: a failed sign-in (wrong password or proof) that auth_read.lua did not count
-- already (a proof it was not told of) counts toward the user's temporary lockout
-- (_lockout.lua).
--
-- KEYS[1] user HASH the user: fail_count, fail_ms, lock_until_ms
-- ARGV[1] the user's sub
-- ARGV[2] failures before the first lockout (5)
-- ARGV[3] longest lockout, ms (900000)
-- ARGV[4] a failure older than this, ms, is forgotten (900000)
--
-- Returns the failures in a row, or 0 when the user does not exist.
local u = redis.call('HMGET', KEYS[1], 'sub', 'fail_count', 'fail_ms')
if u[1] ~= ARGV[1] then
  return 0
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return count_failure(KEYS[1], u[2], u[3], now_ms, ARGV[2], ARGV[3], ARGV[4])
