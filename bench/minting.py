"""The seed's tokens: access tokens minted on every core (RS256 signing is ~0.7 ms each), and
their verified claims primed into the cache as the service itself caches them."""

from __future__ import annotations

import base64
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import orjson
import redis.asyncio as aioredis
from jose import jwk
from jose.backends.base import Key

from service.credentials import tokens
from service.credentials.pool import Pool, pool_from_record
from service.redis_io import lua
from service.runtime.settings import Settings
from service.sessions.routes import Route

MINT_CHUNK = 500
PRIME_BATCH = 1000  # scripts per pipeline when priming the claims cache


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


async def prime(
    url: str, settings: Settings, record: dict[str, str], rows: list[tuple[str, ...]]
) -> None:
    """Cache the verified claims of each (token, device) row as the service does on a cache
    miss: the operation's own script (get_device.lua) with store=1 and the token's claims (the
    bench minted every token, so they need no verifying here), under the keys the service's
    Route gives. Then even 40,000 tokens are warm at once, without 40,000 RS256 checks."""
    pool = pool_from_record(record)
    script = lua.GET_DEVICE
    max_ttl_ms = settings.claims_cache_max_ttl_s * 1000
    r = aioredis.Redis.from_url(url, socket_timeout=30)
    try:
        await r.script_load(script.source)
        for i in range(0, len(rows), PRIME_BATCH):
            pipe = r.pipeline(transaction=False)
            for row in rows[i : i + PRIME_BATCH]:
                token, device = row[0], (row[1] if len(row) > 1 else f"{pool.region}_none")
                c = _payload(token)
                route = Route(pool, c["username"], token, 0)
                script_keys = (*route.session_keys, route.user_keys.device(device))
                # TokenStep.run's layout: no bucket, skew, store=1, the claims, max ttl.
                args = ("", 0, 0, route.skew_ms, 1, c["exp"], c["iat"], c["origin_jti"], c["sub"])
                pipe.evalsha(script.sha, len(script_keys), *script_keys, *args, max_ttl_ms)
            for reply in await pipe.execute():
                if reply[0] not in (b"OK", b"NO_DEVICE"):
                    raise RuntimeError(f"priming the claims cache: {reply!r}")
    finally:
        await r.aclose()


# -- cold tokens: RS256 signing is ~0.7 ms each, so they are minted on every core ----------
_MINTER: tuple[Pool, str, Key] | None = None


def _init_minter(record: dict[str, str]) -> None:
    global _MINTER
    key = jwk.construct(record["private_pem"], "RS256")
    _MINTER = (pool_from_record(record), record["kid"], key)


def _mint(chunk: list[tuple[str, str]], ttl_s: int) -> list[str]:
    assert _MINTER is not None
    pool, kid, key = _MINTER
    client_id = sorted(pool.clients)[0]
    return [
        tokens.issue(
            pool=pool,
            signing_kid=kid,
            signing_key=key,
            sub=sub,
            username=name,
            client_id=client_id,
            ttl_s=ttl_s,
        )
        for sub, name in chunk
    ]


def mint_many(record: dict[str, str], subjects: list[tuple[str, str]], ttl_s: int) -> list[str]:
    """An access token for each (sub, username), on every core."""
    chunks = [subjects[i : i + MINT_CHUNK] for i in range(0, len(subjects), MINT_CHUNK)]
    minted: list[str] = []
    if chunks:
        with ProcessPoolExecutor(
            max_workers=min(os.cpu_count() or 1, len(chunks)),
            mp_context=get_context("spawn"),
            initializer=_init_minter,
            initargs=(record,),
        ) as pool:
            for batch in pool.map(_mint, chunks, [ttl_s] * len(chunks)):
                minted.extend(batch)
    return minted
