"""From REDIS_URL to clients: redis-py for admin and topology, the lean pipe for the hot path.

`redis://`, `rediss://`, `unix://` name one server. `redis+cluster://[user:pass@]h1:p1,h2:p2`
(or `rediss+cluster://`) names a Redis Cluster by any of its nodes. A `rediss` URL's query
string gives the TLS options redis-py takes (`ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`,
`ssl_cert_reqs`, `ssl_check_hostname`, ...): the admin client and the hot pipe both honour them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from ..runtime.settings import Settings
from .cluster import CLUSTER_SCHEMES, ClusterPipe, is_cluster, parse_cluster_url
from .pipe import Pipe
from .transport import RedisPipe

# The hot-path pipe for each URL scheme (see service/redis_io/pipe.py); any other URL is one server.
PIPES: dict[str, Callable[[str, float, int], Pipe]] = {
    **dict.fromkeys(CLUSTER_SCHEMES, ClusterPipe.from_url),
}

# The name the operations (service/ops/) know the hot-path pipe by.
Transport = Pipe


def admin_client(url: str, timeout_s: float) -> Any:
    """redis-py's async client (a RedisCluster for cluster URLs)."""
    if is_cluster(url):
        c = parse_cluster_url(url)
        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in c.nodes],
            username=c.username,
            password=c.password,
            ssl=c.tls,
            **c.tls_options(),
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
    return aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


def hot_pipe(url: str, settings: Settings) -> Pipe:
    """The hot-path pipe for `url`: one multiplexed connection, or one per cluster node.
    Call `start()` on it before the first command."""
    make = PIPES.get(url.partition("://")[0] + "://", RedisPipe)
    return make(url, settings.redis_timeout_s, settings.redis_max_inflight)
