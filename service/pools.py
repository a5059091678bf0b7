"""User pools as the server sees them: parsed once, refreshed when Redis says they changed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from jose import jwk
from jose.backends.base import Key
from jose.exceptions import JOSEError

from . import keys

log = logging.getLogger(__name__)


def text(value: bytes | str) -> str:
    """redis-py answers bytes (or str, by its typing); pools speak str."""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Pool:
    """One user pool: its issuer, app clients, device-tracking flag and parsed public keys."""

    id: str
    issuer: str
    region: str
    device_tracking: bool = True
    clients: frozenset[str] = frozenset()
    deleted: bool = False
    keys: Mapping[str, Key] = field(default_factory=dict)
    jwks: bytes = b'{"keys":[]}'


def parse_jwks(doc: Any) -> dict[str, Key]:
    """Parse the RS256 signing keys of a JWKS document, once. Others are ignored."""
    parsed: dict[str, Key] = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        return parsed
    for item in doc["keys"]:
        if not isinstance(item, dict) or item.get("kty") != "RSA":
            continue
        if item.get("alg", "RS256") != "RS256" or item.get("use", "sig") != "sig":
            continue
        kid = item.get("kid")
        if not isinstance(kid, str):
            continue
        try:
            parsed[kid] = jwk.construct(item, "RS256")
        except (JOSEError, ValueError, TypeError):
            log.warning("ignoring an unparseable JWK (kid %s)", kid)
    return parsed


def pool_from_record(record: Mapping[str, str], external_jwks: Any = None) -> Pool:
    """Build a Pool from its Redis hash (and, for a JWKS URL, the fetched document)."""
    own = orjson.loads(record.get("jwks") or '{"keys":[]}')
    docs = [own] + ([external_jwks] if external_jwks is not None else [])
    merged = {"keys": [k for d in docs if isinstance(d, dict) for k in d.get("keys", [])]}
    return Pool(
        id=record["id"],
        issuer=record["issuer"],
        region=record.get("region", record["id"].split("_", 1)[0]),
        device_tracking=record.get("device_tracking", "1") == "1",
        clients=frozenset(orjson.loads(record.get("clients") or "[]")),
        deleted=record.get("deleted", "0") == "1",
        keys=parse_jwks(merged),
        jwks=orjson.dumps(merged),
    )


async def fetch_jwks(url: str, timeout_s: float = 5.0) -> Any:
    """Fetch a JWKS document (e.g. a real Cognito pool's) over HTTP(S)."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
        resp.raise_for_status()
        return orjson.loads(await resp.read())


class PoolRegistry:
    """Every pool, by id and by issuer. Reloaded whole when `cgd:pools:version` changes."""

    def __init__(self) -> None:
        self.by_id: dict[str, Pool] = {}
        self.by_issuer: dict[str, Pool] = {}
        self.version: bytes | None = None
        # token -> operations.Route: per-worker memo of where a verified token's claims live.
        self.routes: dict[str, Any] = {}
        self._jwks_cache: dict[str, Any] = {}

    def replace(self, pools: list[Pool]) -> None:
        self.by_id = {p.id: p for p in pools}
        self.by_issuer = {p.issuer: p for p in pools}
        self.routes.clear()  # memoised routes hold Pool objects that may have just changed

    async def load(self, r: aioredis.Redis) -> None:
        """Read every pool from Redis and parse its keys."""
        raw_version = await r.get(keys.POOLS_VERSION)
        version = None if raw_version is None else text(raw_version).encode()
        ids = sorted(text(x) for x in await r.smembers(keys.POOLS))
        pools = []
        for pool_id in ids:
            raw = await r.hgetall(keys.pool(pool_id))
            if not raw:
                continue
            record = {text(k): text(v) for k, v in raw.items()}
            external = None
            url = record.get("jwks_url")
            if url:
                external = await self._external(url)
            pools.append(pool_from_record(record, external))
        self.replace(pools)
        self.version = version

    async def _external(self, url: str) -> Any:
        try:
            self._jwks_cache[url] = await fetch_jwks(url)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            # Keep serving with the last good copy; a pool whose keys can't be fetched
            # rejects its tokens as invalid, which is what Cognito-side clients expect.
            log.warning("cannot fetch JWKS from %s: %r", url, exc)
        return self._jwks_cache.get(url)

    async def refresh_forever(self, r: aioredis.Redis, period_s: float) -> None:
        """Poll the version counter; reload on change. One GET per period, not per request."""
        while True:
            await asyncio.sleep(period_s)
            try:
                if await r.get(keys.POOLS_VERSION) != self.version:
                    await self.load(r)
            except Exception as exc:  # keep serving with the pools we have
                log.warning("pool refresh failed: %r", exc)
