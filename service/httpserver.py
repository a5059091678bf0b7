"""aiohttp's server, with its last non-JSON answers replaced and a fast path to the API.

aiohttp answers requests it cannot parse (bad request line, header too long, too many headers)
and handler crashes itself, with a text or HTML page. Behind an AWS SDK that is a useless error,
so this runner's connections answer those with a Cognito-shaped JSON error instead.

`POST /` goes straight to the API handler, not through the application's router: resolving the
route, freezing match info and the Expect check cost about 10 us a request, some 13 % of a whole
answer. Every other request (and `POST /` with `Expect`, which needs 100 Continue) takes the
ordinary routed path, which ends at the same handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from . import protocol
from .app import API
from .drain import DrainingHandler
from .errors import CognitoError, InternalErrorException, SerializationException

_IDS = protocol.RequestIds()


class _JsonErrorHandler(DrainingHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        text = super().handle_error(request, status, exc, message)  # logs, checks the writer
        error: CognitoError
        if status >= 500:
            error = InternalErrorException()
        else:
            lines = (message or "").strip().splitlines()
            first_line = lines[0] if lines else "bad request"
            error = SerializationException(f"Malformed HTTP request: {first_line}")
            error.status = status
        response = protocol.error(error, _IDS.next())
        response.force_close()
        del text
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


Handler = Callable[[BaseRequest], Awaitable[StreamResponse]]


def _api_first(app: web.Application, routed: Handler) -> Handler:
    api = app[API]  # set on startup, which has run by now

    async def handle(request: BaseRequest) -> StreamResponse:
        if (
            request.method == "POST"
            and request.raw_path == "/"
            and hdrs.EXPECT not in request.headers
        ):
            return await api(request)
        return await routed(request)

    return handle


class Runner(web.AppRunner):
    """web.AppRunner with JSON errors only (never aiohttp's pages) and a fast `POST /`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer
        server.request_handler = _api_first(self.app, server.request_handler)
        return server


def make_runner(app: web.Application, **kwargs: Any) -> Runner:
    return Runner(app, **kwargs)
