"""User pools as the server sees them: parsed once, refreshed when Redis says they changed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis

from ..redis_io import keys, lua
from ..redis_io.pipe import Pipe
from . import jwks
from .pool import Pool, pool_from_record, text, token_header

# Named as before the move into layers (issue 23): log filters and tests match the name.
log = logging.getLogger("service.pools")

# A worker that meets an unknown issuer, kid or client asks Redis whether pools changed, at
# most once per this many seconds; requests arriving meanwhile wait for that one check.
CATCH_UP_INTERVAL_S = 0.05


# The pools' version, read through the hot pipe (ensure_fresh).
POOLS_VERSION_SCRIPT = lua.hot_script("pools_version")


def pools_version_reader(pipe: Pipe) -> Callable[[], Awaitable[Any]]:
    """A reader of the pools' version through `pipe`, for PoolRegistry.ensure_fresh."""

    def read() -> Awaitable[Any]:
        return pipe.evalsha(POOLS_VERSION_SCRIPT, (keys.POOLS_VERSION,), ())

    return read


def _by_header(pools: Iterable[Pool]) -> dict[str, Pool]:
    """token header -> pool, for each key of each pool; a key two pools hold (two pools
    trusting one JWKS) names neither: their tokens are placed by their issuer instead."""
    found: dict[str, Pool | None] = {}
    for pool in pools:
        for kid in pool.keys:
            header = token_header(kid)
            found[header] = pool if header not in found else None
    return {header: pool for header, pool in found.items() if pool is not None}


class PoolRegistry:
    """Every pool, by id and by issuer. Reloaded whole when `cgd:{pools}:version` changes."""

    def __init__(self) -> None:
        self.by_id: dict[str, Pool] = {}
        self.by_issuer: dict[str, Pool] = {}
        self.by_client: dict[str, Pool] = {}  # live pools' app client ids
        # The base64url header a pool's key signs with -> that pool (peek.py), for keys no
        # other pool holds.
        self.by_header: dict[str, Pool] = {}
        self.version: bytes | None = None
        self._jwks_cache: dict[str, Any] = {}
        self._client: aioredis.Redis | None = None
        # Called after every reload: caches holding Pool objects empty themselves.
        self.on_change: list[Callable[[], None]] = []
        # Reloads so far: a caller that waited on a check learns from it whether the registry
        # changed meanwhile, whoever reloaded it (see catch_up).
        self.loads = 0
        # One reload at a time: two interleaved loads could end with the older one's pools.
        self._lock = asyncio.Lock()
        # catch_up's next version check, while its GET is not sent yet: callers join it.
        self._pending: asyncio.Future[bool] | None = None
        self._next_check = 0.0

    def replace(self, pools: list[Pool]) -> None:
        self.by_id = {p.id: p for p in pools}
        by_issuer: dict[str, Pool] = {}
        # Live pools first: a deleted pool's issuer may have been taken by a live one.
        for p in sorted(pools, key=lambda p: p.deleted):
            if p.issuer in by_issuer:
                if not p.deleted:
                    log.warning("pool %s skipped: issuer taken by %s", p.id, by_issuer[p.issuer].id)
                continue
            by_issuer[p.issuer] = p
        self.by_issuer = by_issuer
        self.by_header = _by_header(by_issuer.values())
        self.by_client = {c: p for p in pools if not p.deleted for c in p.clients}
        for callback in self.on_change:
            callback()

    async def load(self, r: aioredis.Redis) -> None:
        """Read every pool from Redis and parse its keys. A malformed record is logged and
        skipped: one bad pool (written by another system or an older version) never stops
        the others from loading."""
        self._client = r
        async with self._lock:
            await self._load(r)

    async def _load(self, r: aioredis.Redis) -> None:
        raw_version = await r.get(keys.POOLS_VERSION)
        version = None if raw_version is None else text(raw_version).encode()
        ids = sorted(text(x) for x in await r.smembers(keys.POOLS))
        pools = []
        for pool_id in ids:
            raw = await r.hgetall(keys.pool(pool_id))
            if not raw:
                continue
            try:
                record = {text(k): text(v) for k, v in raw.items()}
                external = None
                url = record.get("jwks_url")
                if url and record.get("deleted") != "1":
                    external = await self._external(url)
                pools.append(pool_from_record(record, external))
            except (ValueError, KeyError, UnicodeDecodeError) as exc:
                log.error("pool %r skipped: malformed record: %s", pool_id, exc)
        self.replace(pools)
        self.version = version
        self.loads += 1

    async def _external(self, url: str) -> Any:
        try:
            self._jwks_cache[url] = await jwks.fetch(url)
        except jwks.JwksError as exc:
            # Keep serving with the last good copy; a pool whose keys can't be fetched
            # rejects its tokens as invalid, which is what Cognito-side clients expect.
            log.warning("%s", exc)
        return self._jwks_cache.get(url)

    async def catch_up(self) -> bool:
        """Reload if the pools changed; True if the registry was reloaded while this call
        waited (by its own check or any other), so the caller looks up again.

        For a token naming an issuer, kid or client this worker does not know yet: a pool
        created a moment ago must work at once (read-your-writes), not after the next periodic
        refresh. Single-flight and rate-limited: at most one version check per
        CATCH_UP_INTERVAL_S, shared by every request waiting, so a flood of forged issuers
        costs one GET per interval, never a reload each. Every waiter is answered by a check
        whose GET was sent after it arrived, and learns of any reload meanwhile (a burst's
        later arrivals once waited for a check of their own, found the version unchanged, as
        the first check had just reloaded, and were answered "nothing new").
        """
        if self._client is None:
            return False
        loads = self.loads
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._check(self._client))
        try:
            await asyncio.shield(self._pending)
        except Exception as exc:  # Redis down: the caller refuses the token as it would anyway
            log.warning("pool catch-up failed: %r", exc)
        return self.loads != loads

    async def _check(self, r: aioredis.Redis) -> bool:
        loop = asyncio.get_running_loop()
        try:
            wait_s = self._next_check - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
        finally:
            # Requests arriving from now on may rely on writes made after the GET below is
            # sent: they schedule a check of their own rather than trust this one.
            self._pending = None
        self._next_check = loop.time() + CATCH_UP_INTERVAL_S
        return await self._reload_if_changed(r, await r.get(keys.POOLS_VERSION))

    async def ensure_fresh(self, read_version: Callable[[], Awaitable[Any]]) -> None:
        """Return once the registry holds every pool write that completed before this call:
        one version read (`read_version`, the hot pipe's), and a reload when it changed. For
        sign-in, which must not use a client or flow removed a moment ago, nor miss one added.

        Each caller reads for itself, sent when it arrives: the hot pipe writes out what
        concurrent requests send in one go, so a burst shares the round trip, and sharing the
        read itself (a task the others join) cost an extra turn of the loop each time, about
        50 us, for saving a 1 us command. Concurrent reloads are one (_reload_if_changed)."""
        if self._client is not None:
            await self._reload_if_changed(self._client, await read_version())

    async def _reload_if_changed(self, r: aioredis.Redis, raw_version: Any) -> bool:
        """Reload unless the registry already holds `raw_version` (read just now). Compared
        under the lock: a reload in progress may be loading that very version."""
        version = None if raw_version is None else text(raw_version).encode()
        if version == self.version:
            # Current (the usual answer): no lock. A reload in progress may be loading a newer
            # version, but the pools in use already hold every write up to this one.
            return False
        async with self._lock:
            if version == self.version:
                return False
            await self._load(r)
            return True

    async def refresh_forever(self, r: aioredis.Redis, period_s: float) -> None:
        """Poll the version counter; reload on change. One GET per period, not per request."""
        self._client = r
        task = asyncio.current_task()
        while True:
            await asyncio.sleep(period_s)
            try:
                await self._reload_if_changed(r, await r.get(keys.POOLS_VERSION))
            except Exception as exc:  # keep serving with the pools we have
                log.warning("pool refresh failed: %r", exc)
            if task is not None and task.cancelling():
                # A cancellation that redis-py swallowed while a command was in flight (seen:
                # the task then slept and polled forever, and shutdown waited on it forever).
                raise asyncio.CancelledError
