"""Every Redis key the service uses, built here and nowhere else.

Layout (documented in the README, because other systems may write devices into it):

    cgd:pools                          SET   ids of every pool, deleted ones included
    cgd:pools:version                  STR   a new random value on every pool change; workers reload
    cgd:pool:{P}                       HASH  pool config (see store.py)
    cgd:pool:{P}:usernames             HASH  username -> sub
    cgd:user:{P/S}                     HASH  one user: username, sub, status, enabled, ...,
                                             and the user's token bucket (bucket_tokens, ...)
    cgd:user:{P/S}:devices             SET   the user's device keys
    cgd:user:{P/S}:device:<key>        HASH  one device
    cgd:user:{P/S}:revoked             SET   revoked origin_jti values
    cgd:user:{P/S}:claims:<digest>     HASH  verified claims of one access token (expires)
    cgd:user:{P/S}:claims-index        ZSET  digests of the cached claims, scored by exp
    cgd:pool:{P}:bucket                HASH  the pool-wide bucket (when enabled)

P is the user pool id, S the user's `sub`. Everything of one user shares the hash tag
`{P/S}`, so the one script of a GetDevice request touches a single cluster slot.
"""

from __future__ import annotations

PREFIX = "cgd:"

POOLS = PREFIX + "pools"
POOLS_VERSION = PREFIX + "pools:version"


def pool(pool_id: str) -> str:
    return f"{PREFIX}pool:{{{pool_id}}}"


def pool_usernames(pool_id: str) -> str:
    return f"{PREFIX}pool:{{{pool_id}}}:usernames"


def pool_bucket(pool_id: str) -> str:
    return f"{PREFIX}pool:{{{pool_id}}}:bucket"


class UserKeys:
    """The keys of one user, all in one hash slot."""

    __slots__ = ("base",)

    def __init__(self, pool_id: str, sub: str) -> None:
        self.base = f"{PREFIX}user:{{{pool_id}/{sub}}}"

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
        return f"{self.base}:claims:{digest}"

    @property
    def claims_index(self) -> str:
        return self.base + ":claims-index"
