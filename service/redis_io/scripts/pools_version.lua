-- pools_version.lua: the pools' version, for a worker checking that its pools are current
-- before a sign-in trusts them (PoolRegistry.ensure_fresh). A script rather than a GET only so
-- that it travels the hot pipe, which runs scripts by their keys' slot on a cluster too, and
-- is written out with whatever other requests send at the same time.
--
-- KEYS[1] version STR  cgd:{pools}:version (a new random value on every pool change)
--
-- Returns the version, or false when no pool was ever written.
return redis.call('GET', KEYS[1])
