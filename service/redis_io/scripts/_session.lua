-- _session.lua: the session prelude every access-token operation's script starts with (the
-- loader in service/lua.py puts _bucket.lua and this before the operation's own body; Redis
-- sees one script, so a warm call of any token operation is one EVALSHA).
--
-- session() checks, in Cognito's order: the cached claims and their expiry (or stores freshly
-- verified ones), that the user exists and is the token's, sign-out and revocation, the
-- per-user bucket, enabled, and status. It returns nil, the server time (microseconds) and the
-- user's sub (the token's, checked) when the caller may go on, or the refusal to return:
-- {"MISS"} (not cached: verify and call again with store=1), {"EXPIRED"}, {"NO_USER"},
-- {"REVOKED"}, {"THROTTLED"}, {"DISABLED"} or {"STATUS", status}.
--
-- KEYS[1] claims  STR   cached verified claims of this access token, one compact value:
--                       "<exp>:<iat>:<n>:<ojti><sub>", exp and iat in epoch seconds (iat with
--                       ".<ms>" when the token says when it was issued to the ms), n the
--                       length of ojti (origin_jti, or "" for none), sub the rest. Expires with
--                       the token (at most max_ttl); nothing indexes it: a deleted user's
--                       claims are orphans that expire, and harmless meanwhile (their sub is
--                       no user's: see NO_USER below)
-- KEYS[2] user    HASH  sub, status, enabled ("1" only), signed_out_ms, revoked ("1" once any
--                       origin_jti is revoked), and the user's token buckets: <b>_tokens
--                       (float) and <b>_ts_us (server microseconds) for b = bucket (reads)
--                       and wbucket (writes)
-- KEYS[3] revoked SET   revoked origin_jti values
-- ARGV[1] bucket  the per-user bucket this operation draws from ("bucket" or "wbucket"), or ""
--                 for operations Cognito does not limit per user (no bucket is read or written)
-- ARGV[2] rate    tokens added per second
-- ARGV[3] burst   bucket size, in tokens
-- ARGV[4] skew_ms a sign-out also revokes tokens whose iat is up to this far after it: 0 for
--                 pools that mint with this Redis's clock, more for tokens of other clocks
-- ARGV[5] store   1: the caller has just verified the token and passes its claims below; 0: use
--                 cache. Plus 2 (2, 3): a dry run that stops after the session with {"ADMITTED"}
--                 (the caller then takes a pool-wide quota token before a write)
-- ARGV[6] exp     (store) token expiry, epoch seconds
-- ARGV[7] iat     (store) token issue time, epoch seconds, or "<seconds>.<ms>" (3 digits)
-- ARGV[8] ojti    (store) the token's origin_jti, or ""
-- ARGV[9] sub     (store) the token's sub
-- ARGV[10] max_ttl (store) upper bound of the cache entry's life, milliseconds
-- An operation's own KEYS start at KEYS[4] and its own ARGV at ARGV[11].
-- issued_ms(sec, ms): a token's issue time in ms from its cached "<iat>[.<ms>]" parts; a token
-- without milliseconds counts from the start of its second.
local function issued_ms(sec, ms)
  if ms == '' then
    return tonumber(sec) * 1000
  end
  return tonumber(sec) * 1000 + tonumber(ms)
end

local function session()
  local t = redis.call('TIME')
  local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local now_ms = math.floor(now_us / 1000)
  local mode = tonumber(ARGV[5])
  local store = mode % 2
  local dry = mode >= 2
  local bucket = ARGV[1]

  local exp, issued, ojti, sub
  if store == 1 then
    exp = tonumber(ARGV[6])
    local i, ms = string.match(ARGV[7], '^(%-?%d+)%.?(%d*)$')
    issued = issued_ms(i, ms)
    ojti = ARGV[8]
    sub = ARGV[9]
  else
    local c = redis.call('GET', KEYS[1])
    if not c then
      return {'MISS'}
    end
    local e, i, ms, n, at = string.match(c, '^(%-?%d+):(%-?%d+)%.?(%d*):(%d+):()')
    if not at then
      return {'MISS'}  -- not a value this script wrote: verify again, and overwrite it
    end
    exp = tonumber(e)
    issued = issued_ms(i, ms)
    n = at + tonumber(n)
    ojti = string.sub(c, at, n - 1)
    sub = string.sub(c, n)
  end
  if exp * 1000 <= now_ms then
    return {'EXPIRED'}
  end

  -- One read of the user hash gives the user's state, revocation flag and bucket.
  local tokens_field = bucket .. '_tokens'
  local ts_field = bucket .. '_ts_us'
  local u = redis.call('HMGET', KEYS[2], 'status', 'enabled', 'signed_out_ms', 'sub', 'revoked',
    tokens_field, ts_field)
  -- A user deleted and created again under the same name is another user: the token's sub
  -- must be the user's. Checked before anything is stored, so a deleted user's token never
  -- recreates keys for them.
  if not u[4] or u[4] ~= sub then
    return {'NO_USER'}
  end

  if store == 1 then
    redis.call('SET', KEYS[1], ARGV[6] .. ':' .. ARGV[7] .. ':' .. #ojti .. ':' .. ojti .. sub,
      'PX', math.min(exp * 1000 - now_ms, tonumber(ARGV[10])))
  end

  -- A sign-out revokes every token issued before it, and none issued after: sign-in stamps its
  -- tokens later than the last sign-out (auth_ok.lua, auth_refresh.lua). A token that says only
  -- its second counts from the second's start (revoking too much is the safe side).
  local signed_out_ms = tonumber(u[3])
  if signed_out_ms and issued <= signed_out_ms + tonumber(ARGV[4]) then
    return {'REVOKED'}
  end
  -- The set is consulted only for users who have had a token revoked (most never have).
  if u[5] == '1' and ojti and ojti ~= '' and redis.call('SISMEMBER', KEYS[3], ojti) == 1 then
    return {'REVOKED'}
  end

  if bucket ~= '' and
      not spend(KEYS[2], tokens_field, ts_field, u[6], u[7], tonumber(ARGV[2]), tonumber(ARGV[3]),
        now_us) then
    return {'THROTTLED'}
  end

  -- Only "1" is enabled, and only the statuses that may hold tokens pass: anything else,
  -- unknown or malformed (written by another system), is refused, never let through.
  if u[2] ~= '1' then
    return {'DISABLED'}
  end
  if u[1] ~= 'CONFIRMED' and u[1] ~= 'EXTERNAL_PROVIDER' then
    return {'STATUS', u[1] or ''}
  end
  if dry then
    return {'ADMITTED'}
  end
  return nil, now_us, sub
end

