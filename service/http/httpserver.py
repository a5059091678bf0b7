"""aiohttp's server, with its last non-JSON answers replaced, time limits on idle and half-sent
requests, and a fast path to the API.

aiohttp answers requests it cannot parse (bad request line, header too long, too many headers),
requests its router rejects (`OPTIONS *`, `CONNECT host:port`, an unknown `Expect`) and handler
crashes itself, with a text or HTML page and a `Server: Python/... aiohttp/...` header. Behind an
AWS SDK that is a useless error, and the header names the software to anyone who asks, so this
runner's connections answer all of those with a Cognito-shaped JSON error instead, and no answer
carries a Server header.

Time limits (HEADER_TIMEOUT_S, KEEPALIVE_TIMEOUT_S): aiohttp closes a connection idle between
requests only after its keep-alive timeout (3630 s by default in aiohttp 3.14), and has no limit
at all on how long a request head may take, so `POST / HTT` and silence held a socket for an
hour. Here a head must complete within HEADER_TIMEOUT_S of the connection opening or of its first
byte after the previous answer (else RequestTimeoutException, and the connection closes), and a
connection idle after an answer closes after KEEPALIVE_TIMEOUT_S. A head that begins while the
previous request is still being handled (pipelining) is bounded by KEEPALIVE_TIMEOUT_S only.

`POST /` goes straight to the API handler, not through the application's router: resolving the
route, freezing match info and the Expect check cost about 10 us a request, some 13 % of a whole
answer. Every other request (and `POST /` with `Expect`, which needs 100 Continue) takes the
ordinary routed path, which ends at the same handler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from ..model.errors import (
    CognitoError,
    InternalErrorException,
    RequestTimeoutException,
    SerializationException,
    UnknownRouteException,
)
from ..runtime.settings import Settings
from . import protocol
from .app import API, SETTINGS
from .drain import DrainingHandler
from .logs import STARTED, AccessLogger

_IDS = protocol.RequestIds()


def _http_error(status: int, message: str) -> CognitoError:
    """The JSON error for an HTTP-level failure aiohttp detected (`message` is its text)."""
    if status >= 500:
        return InternalErrorException()
    lines = message.strip().splitlines()
    first_line = lines[0] if lines else "bad request"
    error = SerializationException(f"Malformed HTTP request: {first_line}")
    error.status = status
    return error


class _Handler(DrainingHandler):
    """One connection: JSON errors only, a time limit on each request head, and a drain that
    finishes begun requests on shutdown (service/http/drain.py)."""

    __slots__ = ("_head_count", "_head_deadline", "_head_mark", "_head_timer", "_header_timeout_s")

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._head_deadline = 0.0  # loop time by which the current head must be complete
        self._head_count = 0  # heads parsed when the current one began
        self._head_timer: asyncio.TimerHandle | None = None
        # aiohttp moves _next_keepalive_close_time after every answer it keeps the connection
        # open for: while it still equals this mark, no answer has finished since the current
        # head began, so new bytes are more of the same request. -1: no byte yet.
        self._head_mark = -1.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_head_clock()
        self._head_mark = -1.0

    def data_received(self, data: bytes) -> None:
        # Per request this costs one comparison, and once per answer a clock start (a loop.time()
        # call; the timer itself is rescheduled at most once per HEADER_TIMEOUT_S).
        if self._next_keepalive_close_time != self._head_mark:
            if self._head_mark < 0:  # the connection's first bytes: its clock runs from opening
                self._head_mark = self._next_keepalive_close_time
            else:  # the first bytes after an answer: the next head's clock starts now
                self._start_head_clock()
        super().data_received(data)

    def _start_head_clock(self) -> None:
        loop = self._loop
        deadline = loop.time() + self._header_timeout_s
        self._head_deadline = deadline
        self._head_count = self._request_count
        # aiohttp's idle close (KEEPALIVE_TIMEOUT_S after the previous answer) must not cut a head
        # that began just before it: it waits for this one's deadline too.
        if self._next_keepalive_close_time < deadline:
            self._next_keepalive_close_time = deadline
        self._head_mark = self._next_keepalive_close_time
        if self._head_timer is None:
            self._head_timer = loop.call_at(deadline, self._check_head)

    def _check_head(self) -> None:
        self._head_timer = None
        if self.transport is None or self._force_close or self._request_count != self._head_count:
            return  # closed, or the head arrived
        if self._loop.time() < self._head_deadline:  # a later head's clock: wait for it
            self._head_timer = self._loop.call_at(self._head_deadline, self._check_head)
            return
        if self._head_mark >= 0:  # some of a head arrived: say why the connection closes
            error = RequestTimeoutException(
                f"The request head did not arrive within {self._header_timeout_s:g} s."
            )
            self.transport.write(protocol.error(error, _IDS.next()).closing_bytes())
        self.force_close()  # the transport sends what was written before it closes

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        text = super().handle_error(request, status, exc, message)  # logs, checks the writer
        response = protocol.error(_http_error(status, message or ""), _IDS.next())
        response.force_close()
        del text
        return response


class _JsonErrorServer(web.Server):
    header_timeout_s = Settings.header_timeout_s

    def __call__(self) -> RequestHandler:
        return _Handler(
            self, loop=self._loop, header_timeout_s=self.header_timeout_s, **self._kwargs
        )


class _AnonymousResponse(web.Response):
    """A web.Response without the Server header aiohttp adds to every answer."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self._headers.popall(hdrs.SERVER, None)


Handler = Callable[[BaseRequest], Awaitable[StreamResponse]]


def _api_first(app: web.Application, routed: Handler, timed: bool) -> Handler:
    api = app[API]  # set on startup, which has run by now
    ids = _IDS
    perf_counter = time.perf_counter

    async def handle(request: BaseRequest) -> StreamResponse:
        if (
            request.method == "POST"
            and request.raw_path == "/"
            and hdrs.EXPECT not in request.headers
        ):
            return await api(request)
        try:
            response = await routed(request)
        except web.HTTPException as exc:
            # The router's own answers: no route (a target that is not a path, such as
            # `OPTIONS *`, `CONNECT host:443`), an Expect it cannot meet.
            error: CognitoError
            echo = request.headers.get(protocol.X_REQUEST_ID)
            if exc.status == 404:
                error = UnknownRouteException(
                    f"No operation at {request.method} {request.raw_path}: "
                    "send POST / with X-Amz-Target."
                )
            else:
                error = _http_error(exc.status, exc.text or exc.reason)
            return protocol.error(error, *protocol.request_id(echo, ids))
        if type(response) is web.Response:
            response.__class__ = _AnonymousResponse
        return response

    if not timed:
        return handle

    async def timed_handle(request: BaseRequest) -> StreamResponse:
        # The access log's duration_ms: aiohttp's own figure has uvloop's 1 ms resolution
        # (see service/http/logs.py). One perf_counter() and a dict store, only with ACCESS_LOG on.
        request[STARTED] = perf_counter()
        return await handle(request)

    return timed_handle


class Runner(web.AppRunner):
    """web.AppRunner with JSON errors only (never aiohttp's pages), no Server header, time
    limits on request heads and idle connections, and a fast `POST /`."""

    async def _make_server(self) -> web.Server:
        settings = self.app.get(SETTINGS) or Settings()
        self._kwargs.setdefault("keepalive_timeout", settings.keepalive_timeout_s)
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer
        assert isinstance(server, _JsonErrorServer)
        server.header_timeout_s = settings.header_timeout_s
        timed = issubclass(self._kwargs.get("access_log_class", object), AccessLogger)
        server.request_handler = _api_first(self.app, server.request_handler, timed)
        return server


def make_runner(app: web.Application, **kwargs: Any) -> Runner:
    return Runner(app, **kwargs)
