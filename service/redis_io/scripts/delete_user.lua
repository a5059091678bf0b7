-- delete_user.lua: delete a user with everything of theirs, at once.
--
-- KEYS[1] user    HASH the user
-- KEYS[2] devices HASH their device keys
-- KEYS[3] revoked SET  their revoked origin_jti values
-- ARGV[1] the user's key (KEYS[1]): its refresh tokens and each device is ARGV[1] .. suffix.
--         Those keys are found only here, so they cannot be declared; they share the user's
--         hash tag, so they live in KEYS[1]'s slot, which a cluster allows.
--
-- Cached claims are not deleted: nothing indexes them (an index would cost every active user
-- more memory than their claims). Orphaned claims expire within CLAIMS_CACHE_MAX_TTL_S, and
-- until then they are harmless: every use checks the claims' sub against the user's, and a
-- user created again under the same name has a new sub (NO_USER).
--
-- Returns 1, or 0 when the user does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local doomed = {KEYS[1], KEYS[2], KEYS[3], ARGV[1] .. ':refresh'}
for _, key in ipairs(redis.call('HKEYS', device_index(KEYS[2]))) do
  doomed[#doomed + 1] = ARGV[1] .. ':device:' .. key
end
-- UNLINK frees memory off the main thread: a user with many devices never stalls Redis.
for i = 1, #doomed, 1000 do
  redis.call('UNLINK', unpack(doomed, i, math.min(i + 999, #doomed)))
end
return 1
