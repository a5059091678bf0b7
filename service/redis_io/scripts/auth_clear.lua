-- auth_clear.lua: a right password that signs nobody in (the user is UNCONFIRMED, or in a status
-- that holds no session) still starts the failed-sign-in count again, as a success does
-- (auth_read.lua counted the attempt before the password was checked).
--
-- KEYS[1] user HASH the user: fail_count, fail_ms, lock_until_ms
-- ARGV[1] the user's sub
--
-- Returns 1, or 0 when the user does not exist (or is another user of the name).
if redis.call('HGET', KEYS[1], 'sub') ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[1], 'fail_count', 'fail_ms', 'lock_until_ms')
return 1
