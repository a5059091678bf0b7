-- auth_put.lua: store a sign-in session (the server's side of a challenge) in the user's slot.
--
-- KEYS[1] user    HASH the user
-- KEYS[2] session HASH the new session
-- ARGV[1] the user's sub (the session is never stored for another user of the name)
-- ARGV[2] its life, ms (the app client's AuthSessionValidity)
-- ARGV[3] "1": the password was right (the failed-sign-in count starts again)
-- ARGV[4..] field, value, ... of the session; pw is the user's srp_salt as the sign-in read it
--         (auth_read.lua refuses the session once the password has changed)
--
-- Returns 1, or 0 when the user does not exist.
if redis.call('HGET', KEYS[1], 'sub') ~= ARGV[1] then
  return 0
end
if ARGV[3] == '1' then
  redis.call('HDEL', KEYS[1], 'fail_count', 'fail_ms', 'lock_until_ms')
end
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
