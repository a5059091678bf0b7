"""The admin plane's own SigV4 credentials, kept in Redis when ADMIN_CREDENTIALS is unset."""

from __future__ import annotations

import secrets
import string

import redis.asyncio as aioredis

from ..redis_io import keys
from ._common import _decode
from .ids import _ALNUM


async def ensure_admin_credentials(r: aioredis.Redis) -> dict[str, str]:
    """The admin credentials kept in Redis (ADMIN_CREDENTIALS unset): one pair is made the
    first time, in AWS's shapes (`AKIA` + 16, 40 characters of secret)."""
    stored = _decode(await r.hgetall(keys.ADMIN_CREDENTIALS))
    if stored:
        return stored
    upper = string.ascii_uppercase + string.digits
    key_id = "AKIA" + "".join(secrets.choice(upper) for _ in range(16))
    secret = "".join(secrets.choice(_ALNUM) for _ in range(40))
    # HSETNX of a fresh id always sets; two processes racing both add a pair, both valid.
    await r.hsetnx(keys.ADMIN_CREDENTIALS, key_id, secret)
    return _decode(await r.hgetall(keys.ADMIN_CREDENTIALS))
