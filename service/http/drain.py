"""The drain on SIGTERM: stop accepting, finish what was begun, close what is idle, then go.

aiohttp's own shutdown (`AppRunner.cleanup`) first calls `close()` on every connection. From
then on the connection's `data_received` drops whatever arrives, so a request whose headers
came in before the signal but whose body was still on its way never gets its body: the handler
waits out BODY_TIMEOUT_S, the client gets 408 after ~10 s, and the stop takes as long.

`drain()` runs before that cleanup and leaves busy connections alone to read on:

- idle connections (waiting for a next request, or holding only part of a request head) are
  closed at once: a client that has not sent a whole head has not begun a request;
- a connection with a request begun (its head parsed) keeps reading its body, gets its answer
  with `Connection: close` (`DrainingHandler.finish_response`), and is then closed by aiohttp;
- it returns when no connection is left, or after `grace_s`; the runner's cleanup then cuts
  whatever is still there.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

log = logging.getLogger("service.server")

# How often the drain looks for connections that have become idle (a keep-alive connection
# whose answer went out just before it was marked). Shutdown only: 20 ms costs nothing.
POLL_S = 0.02


class DrainingHandler(RequestHandler):
    """A connection that, once marked draining, answers with `Connection: close`."""

    __slots__ = ("draining",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.draining = False

    @property
    def idle(self) -> bool:
        """Waiting for a request head, with no request parsed or being answered."""
        waiter = self._waiter
        return waiter is not None and not waiter.done() and not self._messages

    async def finish_response(
        self, request: BaseRequest, resp: StreamResponse, start_time: float | None
    ) -> tuple[StreamResponse, bool]:
        if self.draining:
            # Set before the answer is prepared, so the client reads `Connection: close` and
            # sends nothing more on this connection.
            resp.force_close()
        return await super().finish_response(request, resp, start_time)


async def drain(server: web.Server, grace_s: float) -> int:
    """Let begun requests finish for up to `grace_s` while idle connections close.

    Call it after the sites have stopped accepting. Returns how many connections were still
    open at the deadline (0 when everything finished).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while True:
        for conn in server.connections:
            if not isinstance(conn, DrainingHandler):
                conn.close()  # aiohttp's own behaviour, for a handler of another class
                continue
            conn.draining = True
            if conn.idle:
                conn.force_close()
        remaining = [c for c in server.connections if c.transport is not None]
        if not remaining:
            return 0
        if loop.time() >= deadline:
            log.warning("drain: %d connection(s) still busy after %g s", len(remaining), grace_s)
            return len(remaining)
        await asyncio.sleep(POLL_S)
