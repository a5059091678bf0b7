"""One Redis connection's protocol: commands written in the same event-loop turn go out in one
write, and replies are matched to their waiters strictly in order with `hiredis.Reader`
(transport.py's RedisPipe owns it and says why it is safe)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import hiredis

from .redis_errors import RedisReplyError, RedisUnavailable, reply_error


class RedisProtocol(asyncio.Protocol):
    def __init__(self, on_lost: Any) -> None:
        self.reader = hiredis.Reader(replyError=RedisReplyError)
        # (future, deadline) in the order the commands were written.
        self.waiters: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.transport: asyncio.Transport | None = None
        self._wbuf: list[bytes] = []
        self._on_lost = on_lost
        self.closed = False
        # The loop the connection lives on, kept: asyncio.get_running_loop() makes a getpid()
        # system call each time (CPython checks for a fork), and this runs on every command.
        self.loop = asyncio.get_running_loop()
        self.gone = self.loop.create_future()  # set once the socket is closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiters = self.waiters
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.abort(RedisUnavailable(f"protocol error: {exc}"))
                return
            if reply is False:
                return
            if not waiters:
                # A reply nobody asked for means the stream is out of step: never guess.
                self.abort(RedisUnavailable("unexpected reply"))
                return
            fut, _ = waiters.popleft()
            if fut.done():
                continue  # cancelled by its caller: drop the reply, stay in step
            if isinstance(reply, RedisReplyError):
                # Typed here, once (NOSCRIPT, MOVED, ASK, ...): callers match on classes.
                fut.set_exception(reply_error(reply))
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.gone.done():
            self.gone.set_result(None)
        self._fail_all(RedisUnavailable(f"connection lost: {exc or 'closed'}"))
        self._on_lost(self)

    def _fail_all(self, exc: Exception) -> None:
        while self.waiters:
            fut, _ = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)

    def abort(self, exc: Exception) -> None:
        self.closed = True
        self._fail_all(exc)
        if self.transport is not None:
            self.transport.abort()

    def send(self, packed: bytes, fut: asyncio.Future[Any], deadline: float) -> None:
        if self.closed:
            # Closed between the caller's check and now (the server hung up just after the
            # connect: a TLS client certificate refused, maxclients): no reply will ever come,
            # and the sweeper watches only the current connection, so a waiter queued here would
            # wait forever (seen: worker start hung, and SIGTERM with it).
            fut.set_exception(RedisUnavailable("connection closed"))
            return
        if not self._wbuf:
            self.loop.call_soon(self._flush)
        self._wbuf.append(packed)
        self.waiters.append((fut, deadline))

    def _flush(self) -> None:
        buf, self._wbuf = self._wbuf, []
        if self.transport is not None and not self.closed and buf:
            self.transport.write(b"".join(buf))
