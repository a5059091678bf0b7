"""POST /, the API endpoint: every AWS JSON 1.1 operation arrives here, named by X-Amz-Target."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from ..credentials.sigv4 import Verifier
from ..model.catalog import COGNITO_OPERATIONS, SIGNED_OPERATIONS
from ..model.errors import (
    WAF_BLOCK,
    CognitoError,
    ForbiddenException,
    InternalErrorException,
    RequestEntityTooLargeException,
    RequestTimeoutException,
    SerializationException,
    TooManyRequestsException,
    UnknownOperationException,
    UnrecognizedClientException,
)
from ..ops import Operation
from ..redis_io.redis_errors import RedisTimeout
from ..redis_io.transport import RedisOverloaded, RedisReplyError, RedisUnavailable
from ..runtime import metrics, netrules
from ..runtime.settings import Settings
from . import protocol
from .logs import REQUEST_ID, X_REQUEST_ID, Throttle

log = logging.getLogger("service")
# Redis failures: one line a second per kind (unavailable, timeout, reply) in each
# worker, with the count held back, not one per failed request (an outage at 20,000 requests
# a second is 20,000 lines a second).
REDIS_FAILURES = Throttle(1.0)


class Api:
    """Answers API requests. Holds what a request needs, so it never looks it up in the app."""

    def __init__(
        self,
        settings: Settings,
        ids: protocol.RequestIds,
        operations: dict[str, Operation],
        verifier: Verifier | None = None,
    ) -> None:
        self.settings = settings
        self.ids = ids
        self.operations = operations
        # Checks the SigV4 signature of every operation the model marks signed (the admin
        # plane). None refuses them all: no credentials, no admin calls.
        self.verifier = verifier

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        request_id = self.ids.next()
        x_request_id = request.headers.get(protocol.X_REQUEST_ID)
        if x_request_id is not None:  # a proxy's; never an SDK's
            x_request_id = protocol.echoed_id(x_request_id, request_id)
        started = time.perf_counter()
        recorder = metrics.RECORDER
        recorder.in_flight += 1
        error: CognitoError | None = None
        target = request.headers.get("X-Amz-Target")
        try:
            response = protocol.ok(await self._dispatch(request, target), request_id, x_request_id)
        except CognitoError as exc:
            # Keeping the exception in a local would make a cycle (this frame -> exception ->
            # traceback -> this frame) that only the cyclic GC frees: under a flood of errors
            # (a throttled user) its collections showed up as a 30 ms p99. Nothing reads it.
            error = exc.with_traceback(None)
        except RedisOverloaded:
            recorder.redis_failed("overloaded")
            error = TooManyRequestsException("Rate exceeded", quota="overload")
        except (RedisUnavailable, RedisReplyError) as exc:
            kind = _redis_kind(exc)
            recorder.redis_failed(kind)
            held = REDIS_FAILURES.allow(kind)
            if held is not None:
                log.error(
                    "redis failure: %s",
                    exc,
                    extra={
                        REQUEST_ID: request_id,
                        X_REQUEST_ID: x_request_id,
                        "kind": kind,
                        "suppressed": held,
                    },
                )
            error = InternalErrorException()
        except Exception:
            extra = {REQUEST_ID: request_id, X_REQUEST_ID: x_request_id}
            log.exception("unexpected failure", extra=extra)
            error = InternalErrorException()
        finally:
            recorder.in_flight -= 1
        if error is not None:
            response = protocol.error(error, request_id, x_request_id)
            if isinstance(error, TooManyRequestsException):
                recorder.throttled(error.quota)
            elif isinstance(error, RequestEntityTooLargeException):
                # The body was never read: close rather than let aiohttp read and drop it all.
                response.force_close()
        # Label by operation only for operations we serve: a label from a header would let any
        # client create unbounded metric series.
        name = "unknown"
        if target and target.startswith(protocol.TARGET_PREFIX):
            served = target[len(protocol.TARGET_PREFIX) :]
            if served in self.operations:
                name = served
        type_name = "OK" if error is None else error.type_name
        recorder.answered(name, type_name, time.perf_counter() - started)
        return response

    async def _dispatch(self, request: web.BaseRequest, target: str | None) -> bytes:
        settings = self.settings
        if settings.deny_cidrs and netrules.denied(
            netrules.client_ip(request, settings.trusted_proxies), settings.deny_cidrs
        ):
            raise ForbiddenException(WAF_BLOCK)
        name = protocol.parse_target(target)
        operation = self.operations.get(name)
        if operation is None:
            if name in COGNITO_OPERATIONS:
                raise UnknownOperationException(
                    f"Operation {name} is not served yet by this service."
                )
            raise UnknownOperationException(f"Unknown operation {name}.")
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            raise self._too_large()
        try:
            if request.content.is_eof():
                raw = await request.read()  # all there already: no timer needed (it costs ~9 us)
            else:
                async with asyncio.timeout(settings.body_timeout_s):
                    raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise self._too_large() from None
        except RequestPayloadError:  # e.g. Content-Encoding: gzip that does not decompress
            raise SerializationException("The request body could not be read or decoded.") from None
        except ConnectionError:
            # The client stopped sending mid-body (closed, or shut down its side): its fault, not
            # ours, so no 500 in the logs and metrics. aiohttp has usually closed the connection
            # by now, and then this answer is never sent.
            raise SerializationException(
                "The request body ended before its Content-Length."
            ) from None
        except TimeoutError:
            raise RequestTimeoutException(
                f"The request body did not arrive within {settings.body_timeout_s:g} s."
            ) from None
        netrules.CURRENT_REQUEST.set(request)
        if name in SIGNED_OPERATIONS:
            # Before the body is parsed into anything: an unsigned or wrongly signed call gets
            # no further. One set lookup for the unsigned (access-token) operations.
            self._check_signature(request, raw)
        return await operation(protocol.parse_body(raw))

    def _check_signature(self, request: web.BaseRequest, raw: bytes) -> None:
        if self.verifier is None:
            raise UnrecognizedClientException(
                "The security token included in the request is invalid."
            )
        path, _, query = request.raw_path.partition("?")
        self.verifier.verify(request.method, path, query, request.headers, raw)

    def _too_large(self) -> RequestEntityTooLargeException:
        return RequestEntityTooLargeException(
            f"Request body is larger than the limit of {self.settings.max_body_bytes} bytes."
        )


def _redis_kind(exc: Exception) -> str:
    """The metric label of a Redis failure (metrics.REDIS_ERROR_KINDS)."""
    if isinstance(exc, RedisTimeout):
        return "timeout"
    return "unavailable" if isinstance(exc, RedisUnavailable) else "reply"
