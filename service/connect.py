"""From REDIS_URL to clients: redis-py for admin and topology, the lean pipe for the hot path.

`redis://`, `rediss://`, `unix://` name one server. `redis+cluster://[user:pass@]h1:p1,h2:p2`
(or `rediss+cluster://`) names a Redis Cluster by any of its nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from .cluster import ClusterPipe
from .settings import Settings
from .transport import RedisPipe

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")

# The hot-path transport: the same execute / evalsha / close on one node or a cluster.
Transport = RedisPipe | ClusterPipe


@dataclass(frozen=True)
class ClusterURL:
    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool

    def node_url(self, host: str, port: int) -> str:
        """A single-node URL for one member (the hot-path pipe connects to each this way)."""
        auth = ""
        if self.password is not None:
            user = self.username or ""
            auth = f"{user}:{self.password}@"
        return f"{'rediss' if self.tls else 'redis'}://{auth}{host}:{port}/0"


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def parse_cluster_url(url: str) -> ClusterURL:
    scheme, _, rest = url.partition("://")
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
    return ClusterURL(tuple(nodes), username, password, scheme.startswith("rediss"))


def admin_client(url: str, timeout_s: float) -> Any:
    """redis-py's async client (a RedisCluster for cluster URLs)."""
    if is_cluster(url):
        c = parse_cluster_url(url)
        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in c.nodes],
            username=c.username,
            password=c.password,
            ssl=c.tls,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
    return aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


def hot_pipe(url: str, settings: Settings) -> RedisPipe | ClusterPipe:
    """The hot-path transport: one multiplexed pipe, or one per cluster node."""
    if is_cluster(url):
        c = parse_cluster_url(url)
        return ClusterPipe(
            c.node_url, c.nodes, settings.redis_timeout_s, settings.redis_max_inflight
        )
    return RedisPipe(url, settings.redis_timeout_s, settings.redis_max_inflight)
