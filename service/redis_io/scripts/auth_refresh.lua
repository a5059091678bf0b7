-- auth_refresh.lua: a refresh (REFRESH_TOKEN_AUTH, GetTokensFromRefreshToken). A refresh token
-- is good while its origin_jti is recorded for its client (RevokeToken deletes it), no sign-out
-- came after it was issued, its user may still sign in, and, under RefreshTokenRotation, it is
-- its family's newest (or was rotated out less than the grace period ago).
--
-- A family is one sign-in's refresh tokens: they share its origin_jti, and each rotation seals
-- the next step. Its rotation state is the refresh hash's field "<origin_jti>>": "<step>:<ms>",
-- the newest step and when the one before it was rotated out (none: step 0).
--
-- KEYS[1] user    HASH the user
-- KEYS[2] refresh HASH live refresh tokens: origin_jti -> client id, and rotation states
-- KEYS[3] device  HASH the device the new tokens are for (a key that never exists when none)
-- KEYS[4] revoked SET  revoked origin_jti values (a reused family is revoked whole)
-- ARGV[1] the token's sub
-- ARGV[2] its origin_jti
-- ARGV[3] the client id asking
-- ARGV[4] when the token was issued, ms
-- ARGV[5] the client's IP
-- ARGV[6] the token's rotation step
-- ARGV[7] "1": rotate (the answer carries a new refresh token, the next step)
-- ARGV[8] the retry grace period, ms: a token rotated out less than this ago still works once
--         more, and its answer is the newest step again
-- ARGV[9] "1": the request names the device (KEYS[3]), which must exist
-- ARGV[10] when the token expires, ms
--
-- Returns {"NO_USER"}, {"EXPIRED"}, {"REVOKED"}, {"REUSED"} (a rotated-out token after its grace period: the
-- family is revoked, as a stolen token's reuse should), {"DISABLED"}, {"STATUS", status},
-- {"NO_DEVICE"}, or {"OK", issued_ms, step}: when the new tokens are issued (later than the last
-- sign-out, as in auth_ok.lua) and the step a new refresh token takes.
local issued = tonumber(ARGV[4])
local step = tonumber(ARGV[6])
local grace_ms = tonumber(ARGV[8])
local exp_ms = tonumber(ARGV[10])

local u = redis.call('HMGET', KEYS[1], 'sub', 'status', 'enabled', 'signed_out_ms')
if not u[1] or u[1] ~= ARGV[1] then
  return {'NO_USER'}
end
local client = redis.call('HGET', KEYS[2], ARGV[2])
if not client or client ~= ARGV[3] then
  return {'REVOKED'}
end
local signed_out_ms = tonumber(u[4])
if signed_out_ms and issued <= signed_out_ms then
  return {'REVOKED'}
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if exp_ms <= now_ms then
  return {'EXPIRED'}
end
local state_field = ARGV[2] .. '>'
local newest, rotated_ms = 0, 0
local state = redis.call('HGET', KEYS[2], state_field)
if state then
  local s, at = string.match(state, '^(%d+):(%d+)$')
  newest, rotated_ms = tonumber(s) or 0, tonumber(at) or 0
end
-- A token one step behind, within the grace period, is a client's retry: it is answered with
-- the newest step again (below). Anything else behind is a reuse.
if step ~= newest and not (step == newest - 1 and now_ms < rotated_ms + grace_ms) then
  redis.call('HDEL', KEYS[2], ARGV[2], state_field)
  redis.call('SADD', KEYS[4], ARGV[2])
  redis.call('HSET', KEYS[1], 'revoked', '1')
  return {'REUSED'}
end
if u[3] ~= '1' then
  return {'DISABLED'}
end
if u[2] ~= 'CONFIRMED' and u[2] ~= 'EXTERNAL_PROVIDER' then
  return {'STATUS', u[2] or ''}
end
local device = redis.call('EXISTS', KEYS[3]) == 1
if ARGV[9] == '1' and not device then
  return {'NO_DEVICE'}
end
if ARGV[7] == '1' then
  step = step + 1
  if step > newest then
    redis.call('HSET', KEYS[2], state_field, step .. ':' .. now_ms)
  end
end
if device then
  redis.call('HSET', KEYS[3], 'last_auth_ms', math.floor(now_ms / 1000) * 1000, 'last_ip', ARGV[5])
  redis.call('HINCRBY', KEYS[1], 'dv', 1)
end
return {'OK', math.max(now_ms, (signed_out_ms or 0) + 1), step}
