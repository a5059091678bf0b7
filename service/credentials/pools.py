"""User pools as the server sees them: parsed once, refreshed when Redis says they changed."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
from jose.backends.base import Key

from ..model import b64url, clients
from ..model.clients import AppClient
from ..model.password_policy import DEFAULT as DEFAULT_POLICY
from ..model.password_policy import Policy
from ..model.password_policy import parse as parse_policy
from ..redis_io import keys, lua
from ..redis_io.pipe import Pipe
from . import jwks

# Named as before the move into layers (issue 23): log filters and tests match the name.
log = logging.getLogger("service.pools")

POOL_ID_RE = re.compile(r"[\w-]+_[0-9a-zA-Z]+", re.ASCII)
POOL_ID_MAX = 55
GEN_RE = re.compile(r"[0-9a-f]{1,32}")
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


def text(value: bytes | str) -> str:
    """redis-py answers bytes (or str, by its typing); pools speak str."""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Pool:
    """One user pool: its issuer, app clients, device-tracking flag and parsed public keys."""

    id: str
    issuer: str
    region: str
    # New each time this id is created: every key of the pool's users carries it, so nothing
    # (users, devices, cached claims) of a deleted pool is reachable from its successor.
    gen: str = "0"
    device_tracking: bool = True
    clients: frozenset[str] = frozenset()
    app_clients: Mapping[str, AppClient] = field(default_factory=dict)
    deleted: bool = False
    # The pool trusts keys it did not make (a file or URL): their tokens' iat comes from
    # another clock, so sign-out cut-offs allow for skew (see get_device.lua).
    external: bool = False
    keys: Mapping[str, Key] = field(default_factory=dict)
    jwks: bytes = b'{"keys":[]}'
    # DeviceConfiguration: ChallengeRequiredOnNewDevice, DeviceOnlyRememberedOnUserPrompt.
    challenge_on_new_device: bool = False
    remember_on_prompt: bool = False
    # Signs what the pool hands out opaque (pagination tokens, refresh tokens).
    secret: bytes = b""
    # The pool's own private keys (PEM), for sign-in: access tokens with `kid`, ID tokens with
    # `id_kid` (real pools sign them with different keys). Empty for pools trusting outside keys;
    # a pool made before ID keys existed signs ID tokens with its access key.
    kid: str = ""
    private_pem: str = field(default="", repr=False)
    id_kid: str = ""
    id_private_pem: str = field(default="", repr=False)
    password_policy: Policy = DEFAULT_POLICY


def valid_pool_id(pool_id: str) -> bool:
    return len(pool_id) <= POOL_ID_MAX and POOL_ID_RE.fullmatch(pool_id) is not None


def pool_from_record(record: Mapping[str, str], external_jwks: Any = None) -> Pool:
    """Build a Pool from its Redis hash (and, for a JWKS URL, the fetched document).

    Raises ValueError (JwksError is one) on any malformed member: the caller skips the record.
    """
    pool_id = record["id"]
    if not valid_pool_id(pool_id):
        raise ValueError(f"invalid pool id {pool_id!r}")
    gen = record.get("gen", "0")
    if not GEN_RE.fullmatch(gen):
        raise ValueError(f"invalid generation {gen!r}")
    issuer = record["issuer"]
    if not isinstance(issuer, str) or not issuer:
        raise ValueError("empty issuer")
    app_clients = clients.parse(orjson.loads(record.get("clients") or "[]"))
    docs = [jwks.validate(orjson.loads(record.get("jwks") or '{"keys":[]}'), min_keys=0)]
    if external_jwks is not None:
        docs.append(external_jwks)
    parsed: dict[str, Key] = {}
    for doc in docs:
        parsed.update(jwks.parse(doc))
    return Pool(
        id=pool_id,
        issuer=issuer,
        region=record.get("region") or pool_id.split("_", 1)[0],
        gen=gen,
        device_tracking=record.get("device_tracking", "1") == "1",
        clients=frozenset(app_clients),
        app_clients=app_clients,
        deleted=record.get("deleted", "0") == "1",
        external="private_pem" not in record,
        keys=parsed,
        jwks=jwks.public_json(docs),
        challenge_on_new_device=record.get("device_challenge", "0") == "1",
        remember_on_prompt=record.get("device_remember_on_prompt", "0") == "1",
        secret=_secret(record, pool_id, gen),
        kid=record.get("kid", ""),
        private_pem=record.get("private_pem", ""),
        id_kid=record.get("id_kid") or record.get("kid", ""),
        id_private_pem=record.get("id_private_pem") or record.get("private_pem", ""),
        password_policy=(
            parse_policy(orjson.loads(record["password_policy"]))
            if record.get("password_policy")
            else DEFAULT_POLICY
        ),
    )


def _secret(record: Mapping[str, str], pool_id: str, gen: str) -> bytes:
    if "secret" in record:
        return bytes.fromhex(record["secret"])  # ValueError on a malformed one: skipped
    # A record another system wrote without one: derived, so every worker agrees on it.
    return hashlib.sha256(f"cgd-pool-secret:{pool_id}:{gen}:{record['issuer']}".encode()).digest()


def token_header(kid: str) -> str:
    """The base64url header of an access token signed with `kid`: Cognito's, byte for byte."""
    return b64url.encode(orjson.dumps({"kid": kid, "alg": "RS256"}))


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
