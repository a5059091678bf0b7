-- global_sign_out.lua: GlobalSignOut after the session prelude (_session.lua): every token the
-- user holds, this one included, is revoked from now on (Redis's clock, the one token iat is
-- minted from and compared against).
--
-- Returns the session's refusal, or {"OK"}.
local refusal, now_us = session()
if refusal then
  return refusal
end
redis.call('HSET', KEYS[2], 'signed_out_ms', math.floor(now_us / 1000))
return {'OK'}
