-- set_password.lua: store a user's SRP salt and verifier (never the password) and the status
-- that goes with it, on the user hash. A single-key write, guarded by the user's existence.
--
-- KEYS[1] user HASH the user
-- ARGV[1] the user's sub: a user deleted and created again under the name is another user
-- ARGV[2..] field, value, ... (srp_salt, srp_verifier, status); modified_ms is added from
--         Redis's clock, and the failed-sign-in counters are cleared. The salt is always a
--         fresh one: it ends the sign-in sessions begun before (auth_read.lua)
--
-- Returns 1, or 0 when the user does not exist.
if redis.call('HGET', KEYS[1], 'sub') ~= ARGV[1] then
  return 0
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'modified_ms', now_ms, unpack(ARGV, 2))
redis.call('HDEL', KEYS[1], 'fail_count', 'fail_ms', 'lock_until_ms')
return 1
