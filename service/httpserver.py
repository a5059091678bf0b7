"""aiohttp's server, with its last non-JSON answers replaced.

aiohttp answers requests it cannot parse (bad request line, header too long, too many headers)
and handler crashes itself, with a text or HTML page. Behind an AWS SDK that is a useless error,
so this runner's connections answer those with a Cognito-shaped JSON error instead.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from . import protocol
from .errors import CognitoError, InternalErrorException, SerializationException

_IDS = protocol.RequestIds()


class _JsonErrorHandler(RequestHandler):
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
            first_line = (message or "bad request").strip().splitlines()[0]
            error = SerializationException(f"Malformed HTTP request: {first_line}")
            error.status = status
        response = protocol.error(error, _IDS.next())
        response.force_close()
        del text
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """web.AppRunner whose connections never answer with aiohttp's text/HTML pages."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer
        return server


def make_runner(app: web.Application, **kwargs: Any) -> Runner:
    return Runner(app, **kwargs)
