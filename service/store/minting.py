"""Tokens minted with a pool's own keys, for tests, seeding and benchmarks: access tokens
(token_minter) and refresh tokens (mint_refresh)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from jose import jwk
from jose.backends.base import Key

from ..credentials import refresh, tokens
from ..credentials.pool import Pool, pool_from_record
from ..redis_io import lua
from ._common import StoreError, _run, server_ms
from .pools import pool_record
from .users import User


async def signing_key(r: aioredis.Redis, pool_id: str) -> tuple[Pool, str, Key]:
    """The pool and its private signing key, for minting tokens."""
    record = await pool_record(r, pool_id)
    if "private_pem" not in record:
        raise StoreError(f"User pool {pool_id} trusts external keys only; it cannot mint tokens.")
    return pool_from_record(record), record["kid"], _private_key(record["private_pem"])


@functools.lru_cache(maxsize=64)
def _private_key(pem: str) -> Key:
    # Parsing (and checking) an RSA private key takes tens of milliseconds: once per key.
    return jwk.construct(pem, "RS256")


async def token_minter(r: aioredis.Redis, pool_id: str) -> Callable[..., str]:
    """mint(user, **issue_kwargs): access tokens for `pool_id`'s users, its key parsed once.
    The client id defaults to the pool's first app client."""
    pool, kid, key = await signing_key(r, pool_id)
    default_client = sorted(pool.clients)[0]
    # iat comes from Redis's clock (the one sign-out cut-offs are taken from), so a sign-out
    # revokes every token minted before it whatever this machine's clock says. Measured once:
    # minting thousands of tokens must not cost a round trip each.
    offset_s = await server_ms(r) / 1000 - time.time()

    def server_s() -> int:
        return int(time.time() + offset_s)

    def mint(user: User, *, client_id: str | None = None, **kwargs: Any) -> str:
        kwargs.setdefault("now", server_s())
        return tokens.issue(
            pool=pool,
            signing_kid=kid,
            signing_key=key,
            sub=user.sub,
            username=user.username,
            client_id=client_id or default_client,
            **kwargs,
        )

    return mint


async def mint_refresh(
    r: aioredis.Redis,
    pool_id: str,
    user: User,
    *,
    client_id: str,
    origin_jti: str,
    ttl_s: int = refresh.DEFAULT_TTL_S,
) -> str:
    """A refresh token for `user` and `client_id`, sharing `origin_jti` with the access tokens
    minted with it (RevokeToken revokes them together)."""
    record = await pool_record(r, pool_id)
    pool = pool_from_record(record)
    if client_id not in pool.clients:
        raise StoreError(f"Client {client_id} is not an app client of user pool {pool_id}.")
    claims = refresh.RefreshClaims(
        pool_id=pool_id,
        gen=pool.gen,
        username=user.username,
        sub=user.sub,
        client_id=client_id,
        origin_jti=origin_jti,
        exp=int(await server_ms(r) / 1000) + ttl_s,
    )
    k = user.keys
    if not await _run(r, lua.ISSUE_REFRESH, [k.user, k.refresh], [origin_jti, client_id]):
        raise StoreError("User does not exist.")
    return refresh.seal(pool, claims)
