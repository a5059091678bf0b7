-- delete_user.lua: delete a user with everything of theirs, at once.
--
-- KEYS[1] user    HASH the user
-- KEYS[2] devices SET  their device keys
-- KEYS[3] revoked SET  their revoked origin_jti values
-- KEYS[4] index   ZSET digests of their cached claims
-- ARGV[1] the user's key (KEYS[1]): its refresh tokens, each device and each cached claims key
--         is ARGV[1] .. suffix.
--         Those keys are found only here, so they cannot be declared; they share the user's
--         hash tag, so they live in KEYS[1]'s slot, which a cluster allows.
--
-- Returns 1, or 0 when the user does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local doomed = {KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1] .. ':refresh'}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  doomed[#doomed + 1] = ARGV[1] .. ':device:' .. key
end
for _, digest in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  doomed[#doomed + 1] = ARGV[1] .. ':claims:' .. digest
end
-- UNLINK frees memory off the main thread: a user with many devices never stalls Redis.
for i = 1, #doomed, 1000 do
  redis.call('UNLINK', unpack(doomed, i, math.min(i + 999, #doomed)))
end
return 1
