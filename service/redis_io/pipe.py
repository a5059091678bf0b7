"""The hot path's Redis client, as an interface: one server (transport.RedisPipe) or a Redis
Cluster (cluster.ClusterPipe). A new topology is a module with a class like these and one line in
connect.py's table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .script import Arg, Script


class Pipe(Protocol):
    """Commands to Redis, multiplexed: every method is safe to call from many tasks at once.

    Failures are `redis_errors.RedisUnavailable` (unreachable, or no answer within the timeout),
    `RedisOverloaded` (too many commands waiting) and `RedisReplyError` (an error reply).
    """

    async def start(self) -> None:
        """Get ready for the first command (the cluster pipe reads its slot table)."""

    async def execute(self, *args: Arg) -> Any:
        """One keyless command (PING, SCRIPT LOAD ...) and its reply."""

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run `script` on the node that holds `keys` (one hash tag), loading it if need be."""

    async def close(self) -> None:
        """Close every connection; no command may follow."""
