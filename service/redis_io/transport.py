"""The hot-path Redis transport: one multiplexed, auto-pipelined connection per worker.

redis-py costs tens of microseconds per command in Python; this costs a few. Commands written in
the same event-loop turn go out in one write, and replies are matched to waiters strictly in
order with `hiredis.Reader`.

Correctness before speed (the CVE-2023-28858/28859 class):
- A waiter that is cancelled (client went away) stays in the queue; its reply is read and
  dropped, so it never reaches another request.
- A timeout never abandons a reply on a live connection: when the oldest waiter is overdue the
  whole connection is closed and every waiter fails, and the next call reconnects.
- The number of waiters is bounded; past it, calls fail at once instead of queueing.
- No waiter is ever queued on a closed connection (one closed, it fails every waiter it holds
  and every command sent to it later), so every wait ends within the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio.connection import UnixDomainSocketConnection, parse_url

from . import redis_tls
from .redis_errors import (
    NoScriptError,
    RedisOverloaded,
    RedisReplyError,
    RedisTimeout,
    RedisUnavailable,
)
from .resp import RedisProtocol
from .script import Arg, Script

# The errors are defined in redis_errors.py and importable from here too.
__all__ = [
    "NoScriptError",
    "RedisOverloaded",
    "RedisPipe",
    "RedisReplyError",
    "RedisUnavailable",
]

# Named as before the move into layers (issue 23): log filters and tests match the name.
log = logging.getLogger("service.transport")


def _retrieve(task: asyncio.Task[Any]) -> None:
    # Mark a failed connect's exception as seen even when every waiter has gone away.
    if not task.cancelled():
        task.exception()


class RedisPipe:
    """A multiplexed connection to one Redis server, reconnecting on demand."""

    def __init__(self, url: str, timeout_s: float, max_inflight: int) -> None:
        self._params = parse_url(url)
        # Made once: the same context as redis-py's for this URL (service/redis_io/redis_tls.py).
        self._ssl = redis_tls.context(self._params)
        self._timeout_s = timeout_s
        self._max_inflight = max_inflight
        self._proto: RedisProtocol | None = None
        self._connecting: asyncio.Task[RedisProtocol] | None = None
        self._last_failure = -1e9
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False

    # -- connection management -----------------------------------------------------------
    async def _open(self) -> RedisProtocol:
        loop = asyncio.get_running_loop()
        params: dict[str, Any] = dict(self._params)
        cls = params.get("connection_class")
        proto = RedisProtocol(self._lost)
        if cls is UnixDomainSocketConnection:
            await loop.create_unix_connection(lambda: proto, params["path"])
        else:
            await loop.create_connection(
                lambda: proto,
                params.get("host", "localhost"),
                params.get("port", 6379),
                ssl=self._ssl,
            )
        sock = proto.transport.get_extra_info("socket") if proto.transport else None
        if sock is not None and cls is not UnixDomainSocketConnection:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handshake: list[tuple[Arg, ...]] = []
        if params.get("password"):
            if params.get("username"):
                handshake.append(("AUTH", params["username"], params["password"]))
            else:
                handshake.append(("AUTH", params["password"]))
        if params.get("db"):
            handshake.append(("SELECT", int(params["db"])))
        try:
            for command in handshake:
                await self._call_on(proto, command)
        except BaseException:  # a failed AUTH, or the connect timeout: don't leak the socket
            if proto.transport is not None:
                proto.transport.abort()
            raise
        return proto

    async def _connect(self) -> RedisProtocol:
        proto = self._proto
        if proto is not None and not proto.closed:
            return proto
        if self._closing:
            raise RedisUnavailable("closing")
        if self._connecting is None:
            loop = asyncio.get_running_loop()
            # Fail fast while Redis is down, instead of every request paying a connect attempt.
            if loop.time() - self._last_failure < min(0.1, self._timeout_s):
                raise RedisUnavailable("redis unreachable (recent failure)")
            # A task of its own, so a caller that is cancelled never cancels the connect
            # that other callers are waiting for.
            self._connecting = loop.create_task(self._establish())
            self._connecting.add_done_callback(_retrieve)
        return await asyncio.shield(self._connecting)

    async def _establish(self) -> RedisProtocol:
        loop = asyncio.get_running_loop()
        try:
            proto = await asyncio.wait_for(self._open(), self._timeout_s)
        except (OSError, TimeoutError, RedisReplyError, RedisUnavailable) as exc:
            self._last_failure = loop.time()
            raise RedisUnavailable(f"cannot connect to redis: {exc!r}") from exc
        finally:
            self._connecting = None
        self._proto = proto
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep())
        return proto

    def _lost(self, proto: RedisProtocol) -> None:
        if self._proto is proto:
            self._proto = None

    async def _sweep(self) -> None:
        """Close a connection whose oldest waiter is overdue (see the module docstring)."""
        period = max(0.005, min(0.05, self._timeout_s / 5))
        loop = asyncio.get_running_loop()
        while not self._closing:
            await asyncio.sleep(period)
            proto = self._proto
            if proto is not None and proto.waiters and proto.waiters[0][1] < loop.time():
                log.warning("redis did not answer within %.3fs; reconnecting", self._timeout_s)
                self._proto = None
                proto.abort(RedisTimeout(f"redis timeout after {self._timeout_s}s"))

    async def start(self) -> None:
        """Nothing to do before the first command: the connection opens on demand."""

    async def close(self) -> None:
        self._closing = True
        for task in (self._connecting, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RedisUnavailable):
                    await task
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()
            # Wait for the socket to be really closed, so the loop can close after us.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proto.gone), 1.0)

    # -- commands ------------------------------------------------------------------------
    def _send(self, proto: RedisProtocol, args: Sequence[Arg]) -> asyncio.Future[Any]:
        loop = proto.loop
        fut: asyncio.Future[Any] = loop.create_future()
        packed: bytes = hiredis.pack_command(tuple(args))  # type: ignore[arg-type]
        proto.send(packed, fut, loop.time() + self._timeout_s)
        return fut

    async def _call_on(self, proto: RedisProtocol, args: Sequence[Arg]) -> Any:
        return await self._send(proto, args)

    async def execute(self, *args: Arg) -> Any:
        """Send one command and wait for its reply (bounded by the timeout)."""
        proto = self._proto
        if proto is None or proto.closed:
            proto = await self._connect()
        if len(proto.waiters) >= self._max_inflight:
            raise RedisOverloaded(f"{len(proto.waiters)} redis commands already in flight")
        return await self._send(proto, args)

    async def execute_asking(self, *args: Arg) -> Any:
        """ASKING and then `args`, written together so nothing can come between them."""
        proto = self._proto
        if proto is None or proto.closed:
            proto = await self._connect()
        asking = self._send(proto, ("ASKING",))
        reply = self._send(proto, args)
        try:
            return await reply
        finally:
            await asyncio.gather(asking, return_exceptions=True)

    async def evalsha_asking(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """evalsha() on a node importing the slot (after an ASK redirection)."""
        return await script.run(self.execute_asking, keys, args)

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run `script`, loading it first if Redis has lost it (restart, SCRIPT FLUSH)."""
        # script.run(self.execute, ...) inlined: the hottest call in the service, and one
        # coroutine and one bound method fewer per request. NOSCRIPT is still the script's.
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await script.reload(self.execute, keys, args)
