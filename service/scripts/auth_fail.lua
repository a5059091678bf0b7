-- auth_fail.lua: a failed sign-in (wrong password or proof) that auth_read.lua did not count
-- already (a proof it was not told of) counts toward the user's temporary lockout, as the
-- developer guide describes it: from the fifth failure in a row the user is
-- locked out for 1 s, doubling with each further failure up to 15 minutes; a success, or 15
-- minutes without failures, starts the count again.
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
local count = tonumber(u[2]) or 0
local last = tonumber(u[3])
if last and now_ms - last > tonumber(ARGV[4]) then
  count = 0
end
count = count + 1
redis.call('HSET', KEYS[1], 'fail_count', count, 'fail_ms', now_ms)
local free = tonumber(ARGV[2])
if count >= free then
  local lock_ms = math.min(1000 * 2 ^ (count - free), tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'lock_until_ms', now_ms + lock_ms)
end
return count
