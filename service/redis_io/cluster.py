"""The hot path on Redis Cluster: one multiplexed pipe per primary, commands routed by slot.

The slot table comes from CLUSTER SLOTS, asked over these same pipes (redis-py's RedisCluster,
used for admin work, keeps its own). Every request's keys share one hash tag, so a request is
still one command to one node.
MOVED updates the slot and retries on the new owner (and refreshes the table in the background);
ASK sends ASKING and the command back to back on the importing node; TRYAGAIN and CLUSTERDOWN
back off briefly. A node that is down fails fast and triggers a refresh, so a promoted replica
is found without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from redis.asyncio.connection import parse_url
from redis.crc import key_slot

from . import redis_tls
from .redis_errors import (
    AskError,
    ClusterDownError,
    MovedError,
    RedirectError,
    RedisReplyError,
    RedisUnavailable,
    TryAgainError,
)
from .script import Arg, Script
from .transport import RedisPipe

# Named as before the move into layers (issue 23): log filters and tests match the name.
log = logging.getLogger("service.cluster")

SLOTS = 16384
MAX_REDIRECTS = 16
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


@dataclass(frozen=True)
class ClusterURL:
    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool
    # The URL's query string, as given: the TLS options (ssl_ca_certs, ssl_certfile, ...) that
    # every node's connection takes, as redis-py takes them (service/redis_io/redis_tls.py).
    query: str = ""

    def node_url(self, host: str, port: int) -> str:
        """A single-node URL for one member (the hot-path pipe connects to each this way)."""
        auth = ""
        if self.password is not None:
            user = quote(self.username or "", safe="")
            auth = f"{user}:{quote(self.password, safe='')}@"
        query = f"?{self.query}" if self.query else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}{host}:{port}/0{query}"

    def tls_options(self) -> dict[str, Any]:
        """The URL's ssl_* options, parsed by redis-py, for its RedisCluster (admin work)."""
        if not self.tls:
            return {}
        return redis_tls.tls_options(parse_url(self.node_url("localhost", 6379)))


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def parse_cluster_url(url: str) -> ClusterURL:
    """`redis+cluster://[user:pass@]h1:p1,h2:p2[/0][?ssl_ca_certs=...]` (or `rediss+cluster://`):
    any of the nodes, and the TLS options every node's connection takes."""
    scheme, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    rest = rest.split("/", 1)[0]
    username = password = None
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        user, _, pw = auth.partition(":")
        username, password = (unquote(user) or None), unquote(pw)
    nodes = []
    for item in rest.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"cluster node {item!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    return ClusterURL(tuple(nodes), username, password, scheme.startswith("rediss"), query)


class ClusterPipe:
    """The hot-path pipe (service/redis_io/pipe.py) for a Redis Cluster."""

    def __init__(
        self,
        node_url: Callable[[str, int], str],
        seeds: Sequence[tuple[str, int]],
        timeout_s: float,
        max_inflight: int,
    ) -> None:
        self._node_url = node_url
        self._seeds = [f"{host}:{port}" for host, port in seeds]
        self._timeout_s = timeout_s
        self._max_inflight = max_inflight
        self._slots: list[str | None] = [None] * SLOTS
        self._pipes: dict[str, RedisPipe] = {}
        self._refreshing: asyncio.Task[None] | None = None
        self._last_refresh = -1e9

    @classmethod
    def from_url(cls, url: str, timeout_s: float, max_inflight: int) -> ClusterPipe:
        c = parse_cluster_url(url)
        return cls(c.node_url, c.nodes, timeout_s, max_inflight)

    async def start(self) -> None:
        """Read the slot table: no command can be routed before it."""
        await self.refresh()

    # -- topology --------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Read CLUSTER SLOTS from the first node that answers: known primaries first, then the
        nodes named in REDIS_URL. (redis-py's RedisCluster keeps its own table for admin work;
        sharing it would let our refreshes replace its nodes under it.)"""
        last: Exception | None = None
        for node in [*self.primaries(), *self._seeds]:
            try:
                reply = await self._pipe(node).execute("CLUSTER", "SLOTS")
            except (RedisUnavailable, RedisReplyError) as exc:
                last = exc
                continue
            table: list[str | None] = [None] * SLOTS
            for start, end, primary, *_replicas in reply:
                host = primary[0].decode() or node.rpartition(":")[0]
                owner = f"{host}:{int(primary[1])}"
                for slot in range(int(start), int(end) + 1):
                    table[slot] = owner
            self._slots = table
            self._last_refresh = asyncio.get_running_loop().time()
            return
        raise RedisUnavailable(f"no cluster node answered CLUSTER SLOTS: {last!r}")

    def _refresh_soon(self) -> None:
        loop = asyncio.get_running_loop()
        if self._refreshing is not None and not self._refreshing.done():
            return
        if loop.time() - self._last_refresh < 0.1:
            return  # at most ten topology reads a second, however many requests see MOVED
        self._refreshing = loop.create_task(self._refresh_logged())

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # the next MOVED or failure tries again
            self._last_refresh = asyncio.get_running_loop().time()
            log.warning("cluster topology refresh failed: %r", exc)

    def _pipe(self, node: str) -> RedisPipe:
        pipe = self._pipes.get(node)
        if pipe is None:
            host, _, port = node.rpartition(":")
            pipe = RedisPipe(self._node_url(host, int(port)), self._timeout_s, self._max_inflight)
            self._pipes[node] = pipe
        return pipe

    def _node_for(self, key: str) -> str:
        if self._slots[0] is None and not any(self._slots):
            raise RedisUnavailable("cluster topology not loaded")
        node = self._slots[key_slot(key.encode())]
        if node is None:
            self._refresh_soon()
            raise RedisUnavailable("slot not covered by any node")
        return node

    def primaries(self) -> list[str]:
        return sorted({n for n in self._slots if n is not None})

    # -- commands --------------------------------------------------------------------------
    async def execute(self, *args: Arg) -> Any:
        """A keyless command (PING, SCRIPT ...): run on every primary; the first reply."""
        nodes = self.primaries()
        if not nodes:
            raise RedisUnavailable("cluster topology not loaded")
        replies = await asyncio.gather(*(self._pipe(n).execute(*args) for n in nodes))
        return replies[0]

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        # TRYAGAIN lasts while a slot's keys are half migrated: wait it out, but never past
        # the call's timeout. (time.monotonic, not the loop's clock: asyncio.get_running_loop()
        # makes a getpid() system call, and this runs on every request.)
        deadline = time.monotonic() + self._timeout_s
        node = self._node_for(keys[0])
        asking = False
        redirects = 0
        backoff_s = 0.002
        while True:
            pipe = self._pipe(node)
            try:
                if asking:
                    return await pipe.evalsha_asking(script, keys, args)
                return await pipe.evalsha(script, keys, args)
            except RedirectError as exc:
                redirects += 1
                if redirects > MAX_REDIRECTS or time.monotonic() > deadline:
                    raise RedisUnavailable(f"too many cluster redirections: {exc}") from exc
                if redirects > 2:
                    # Nodes disagree for a moment while a migration is being finished.
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, 0.05)
                # Redis may answer ":port" when the node does not know its own address.
                node = f"{exc.host or node.rpartition(':')[0]}:{exc.port}"
                asking = isinstance(exc, AskError)
                if isinstance(exc, MovedError):
                    self._slots[exc.slot] = node
                    self._refresh_soon()
            except (TryAgainError, ClusterDownError) as exc:
                if time.monotonic() + backoff_s > deadline:
                    raise RedisUnavailable(f"cluster busy: {exc}") from exc
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 0.05)
                node = self._node_for(keys[0])
                asking = False
            except RedisUnavailable:
                self._refresh_soon()  # a failed-over primary: find its replacement
                raise

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
        await asyncio.gather(*(p.close() for p in self._pipes.values()))
