"""The token step of the hot path: an access token's session, the route cache and the
pool-wide quota buckets."""
