-- _lockout.lua: one failed sign-in counted toward the user's temporary lockout, as the developer
-- guide describes it: from the fifth failure in a row the user is locked out for 1 s, doubling
-- with each further failure up to 15 minutes; 15 minutes without failures starts the count
-- again (so does a success: auth_ok.lua, auth_put.lua, auth_clear.lua). The loader puts this
-- before auth_read.lua and auth_fail.lua.
--
-- count_failure(user, fail_count, fail_ms, now_ms, free, longest_ms, forget_ms): user is the
-- user's hash key, fail_count and fail_ms its fields as read (or nil), free the failures before
-- the first lockout, longest_ms the longest lockout, forget_ms the age at which a failure is
-- forgotten. Returns the failures in a row.
local function count_failure(user, fail_count, fail_ms, now_ms, free, longest_ms, forget_ms)
  local count = tonumber(fail_count) or 0
  local last = tonumber(fail_ms)
  if last and now_ms - last > tonumber(forget_ms) then
    count = 0
  end
  count = count + 1
  redis.call('HSET', user, 'fail_count', count, 'fail_ms', now_ms)
  free = tonumber(free)
  if count >= free then
    local lock_ms = math.min(1000 * 2 ^ (count - free), tonumber(longest_ms))
    redis.call('HSET', user, 'lock_until_ms', now_ms + lock_ms)
  end
  return count
end

