"""Every Redis key the service uses, built here and nowhere else.

Layout (documented in docs/data-model.md, because other systems may write devices into it):

    cgd:{pools}:ids                    SET   ids of every pool, deleted ones included
    cgd:{pools}:version                STR   a new random value on every pool change; workers reload
    cgd:{pools}:pool:<P>               HASH  pool config and its generation `gen` (store/pools.py)
    cgd:{pools}:issuers                HASH  issuer -> id of the live pool that owns it
    cgd:bucket:{P}:<category>          HASH  a pool-wide quota category's bucket (when enabled)
    cgd:user:{P:G:N:U}                 HASH  one user: username, sub, status, enabled, ...,
                                             the user's token bucket (bucket_tokens, ...), and
                                             dv, the version of the user's devices
    cgd:user:{P:G:N:U}:devices         HASH  the user's device keys (each -> "1")
    cgd:user:{P:G:N:U}:device:<key>    HASH  one device
    cgd:user:{P:G:N:U}:revoked         SET   revoked origin_jti values
    cgd:user:{P:G:N:U}:c:<digest>      STR   verified claims of one access token, compact
                                             ("<exp>:<iat>:<len>:<ojti><sub>"; expires)
    cgd:user:{P:G:N:U}:refresh         HASH  live refresh tokens: origin_jti -> client id
    cgd:user:{P:G:N:U}:auth:<id>       HASH  a sign-in session (a challenge's state; expires)

P is the user pool id, G the pool's generation (new each time a pool id is created, so a
recreated pool shares nothing with the one it replaces), U the username and N its length in
characters. Why each choice:
- Users are keyed by username, not `sub`: creating or deleting a user then touches one hash
  slot only, so it is one atomic script even on a cluster. The user's `sub` is stored in the
  hash and checked against every token's.
- The length prefix makes the encoding injective: P and G never hold `:` (P is validated, G is
  hex), and N says exactly where U ends, whatever U holds (`:`, `}` or `/`), so no two
  (pool, generation, username) triples share a key, and no user's key is another's plus a suffix.
- Everything of one user shares the hash tag, so one request's script touches one slot.
- Cached claims are not indexed (an index per user would cost more memory than the claims):
  deleting a user leaves them behind, and orphaned claims expire within CLAIMS_CACHE_MAX_TTL_S.
  Until then they are harmless: every use checks their sub against the user's, and a user
  created again under the same name has a new sub. Their suffix is short (`:c:`): every active
  user has one such key per token.
- The device index is a HASH, not a SET: Redis before 7.2 keeps a small hash as a ziplist
  or listpack but every set of strings as a hash table, and one device's set cost 360 bytes
  against 208 (measured on Redis 6.2). Every script that changes a device also increments the
  user's `dv`, so a worker can tell whether a device list it rendered is still current.
- Every pool record shares the tag `{pools}`, so creating, changing or deleting a pool (record,
  id set, issuer index and version together) is one atomic script on a cluster too.
"""

from __future__ import annotations

PREFIX = "cgd:"

_CONTROL = PREFIX + "{pools}:"
POOLS = _CONTROL + "ids"
POOLS_VERSION = _CONTROL + "version"
ISSUERS = _CONTROL + "issuers"
POOL_RECORD_PREFIX = _CONTROL + "pool:"
# HASH access key id -> secret: the admin credentials `serve` made when ADMIN_CREDENTIALS is
# unset (kept with the data, so they survive restarts).
ADMIN_CREDENTIALS = PREFIX + "admin-credentials"
# Where account-wide quota buckets live for calls that name no pool (CreateUserPool,
# ListUserPools): pool_bucket(ACCOUNT_SCOPE, category). Not a valid pool id, so never a pool's.
ACCOUNT_SCOPE = "account"


def pool(pool_id: str) -> str:
    return POOL_RECORD_PREFIX + pool_id


def pool_bucket(pool_id: str, category: str) -> str:
    return f"{PREFIX}bucket:{{{pool_id}}}:{category}"


def user_base(pool_id: str, gen: str, username: str) -> str:
    # user_prefix(pool_id, gen) + ..., written out: this runs on every miss of the route cache.
    return f"{PREFIX}user:{{{pool_id}:{gen}:{len(username)}:{username}}}"


def user_prefix(pool_id: str, gen: str) -> str:
    """What every user key of one generation of a pool starts with."""
    return f"{PREFIX}user:{{{pool_id}:{gen}:"


def pool_users_pattern(pool_id: str) -> str:
    """A SCAN pattern for every user key of every generation of `pool_id` (sweeps only)."""
    return f"{PREFIX}user:{{{pool_id}:*"


class UserKeys:
    """The keys of one user, all in one hash slot."""

    __slots__ = ("base",)

    def __init__(self, pool_id: str, gen: str, username: str) -> None:
        self.base = user_base(pool_id, gen, username)

    @property
    def user(self) -> str:
        return self.base

    @property
    def devices(self) -> str:
        return self.base + ":devices"

    @property
    def revoked(self) -> str:
        return self.base + ":revoked"

    def device(self, device_key: str) -> str:
        return f"{self.base}:device:{device_key}"

    def claims(self, digest: str) -> str:
        return f"{self.base}:c:{digest}"

    @property
    def refresh(self) -> str:
        return self.base + ":refresh"

    def auth_session(self, session_id: str) -> str:
        """A sign-in session (the server's side of a challenge); expires."""
        return f"{self.base}:auth:{session_id}"


def claims_pattern(pool_id: str, gen: str) -> str:
    """A SCAN pattern for the cached claims of one generation of a pool (admin sweeps only;
    it also matches keys that are not claims, when a username holds `}:c:`: is_claims_key)."""
    return f"{user_prefix(pool_id, gen)}*}}:c:*"


def is_claims_key(pool_id: str, gen: str, key: str) -> bool:
    """Whether `key` is a cached-claims key of one generation of a pool (read by the length
    prefix, so no username makes a user's other keys look like one)."""
    prefix = user_prefix(pool_id, gen)
    if not key.startswith(prefix):
        return False
    length, _, rest = key[len(prefix) :].partition(":")
    if not length.isdigit() or len(rest) < int(length):
        return False
    return rest[int(length) :].startswith("}:c:")


def devices_sets_pattern(pool_id: str, gen: str) -> str:
    """A SCAN pattern for the device indexes of one generation of a pool (offline export only)."""
    return f"{user_prefix(pool_id, gen)}*:devices"


def devices_set_owner(pool_id: str, gen: str, key: str) -> str | None:
    """The username whose device index `key` is, or None when `key` is no user's device index
    (the length prefix says where the username ends, whatever it holds)."""
    prefix = user_prefix(pool_id, gen)
    if not key.startswith(prefix):
        return None
    length, _, rest = key[len(prefix) :].partition(":")
    if not length.isdigit():
        return None
    username, tail = rest[: int(length)], rest[int(length) :]
    return username if tail == "}:devices" and len(username) == int(length) else None
