"""Structured logs: one JSON object per line. Tokens and secrets are never logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from ..runtime import netrules
from ..runtime.setting_casts import Network
from .answer import Answer

REQUEST_ID = "request_id"
# The caller's own X-Request-Id (a proxy's), when it passed protocol.request_id's checks.
X_REQUEST_ID = "x_request_id"
# Where the fast path keeps a request's perf_counter() start while the access log is on.
STARTED = "cgd_started"
# Fields a record may carry (logging's `extra=`), in the order they are written.
FIELDS = (
    REQUEST_ID,
    X_REQUEST_ID,
    "client_ip",
    "method",
    "path",
    "status",
    "type",
    "duration_ms",
    "kind",
    "suppressed",
    "endpoint",
    "workers",
    "access_key_id",
)


def entry(level: str, logger: str, msg: str, created: float, **fields: Any) -> dict[str, Any]:
    """One log line's object: the fixed keys first, then `fields` that are not None."""
    line: dict[str, Any] = {"ts": round(created, 3), "level": level, "logger": logger, "msg": msg}
    line.update((k, v) for k, v in fields.items() if v is not None)
    return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        found = record.__dict__
        line = entry(
            record.levelname,
            record.name,
            record.getMessage(),
            record.created,
            **{k: found[k] for k in FIELDS if k in found},
        )
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class Throttle:
    """At most one line per `period_s` for each kind of failure. During a Redis outage every
    request fails the same way: one line per request would be thousands a second, drowning
    the log pipeline and everything else in it. `allow` says whether to write this one, and
    how many of its kind were held back since the last one written."""

    def __init__(self, period_s: float = 1.0) -> None:
        self.period_s = period_s
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, kind: str) -> int | None:
        """None: do not write it. Else the count of lines of `kind` held back before it."""
        now = time.monotonic()
        if now < self._next.get(kind, 0.0):
            self._held[kind] = self._held.get(kind, 0) + 1
            return None
        self._next[kind] = now + self.period_s
        return self._held.pop(kind, 0)


class AccessLogger(AbstractAccessLogger):
    """The access log (off unless ACCESS_LOG=true): method, path, status, time, request id.
    The body (and so the access token) is never logged. `client_ip` is the address the
    trusted-proxy rules give (TRUSTED_PROXIES, service/runtime/netrules.py), not the proxy's."""

    trusted: Sequence[Network] = ()

    def log(self, request: BaseRequest, response: StreamResponse, time_s: float) -> None:
        # aiohttp's time_s comes from loop.time(), which uvloop keeps in whole milliseconds
        # (and caches per loop turn: most answers read 0). The fast path noted a perf_counter()
        # start; requests it never saw (a head aiohttp could not parse) keep aiohttp's figure.
        started = request.get(STARTED)
        if started is not None:
            time_s = time.perf_counter() - started
        # Only API answers (Answers) carry a request id and an error type.
        request_id = error_type = x_request_id = None
        if isinstance(response, Answer):
            request_id, error_type = response.request_id, response.error_type
            x_request_id = response.x_request_id
        client = netrules.client_ip(request, self.trusted)
        self.logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status,
            extra={
                REQUEST_ID: request_id,
                X_REQUEST_ID: x_request_id,
                "method": request.method,
                "client_ip": None if client is None else str(client),
                "path": request.path,
                "status": response.status,
                "type": error_type or "OK",
                "duration_ms": round(time_s * 1000, 3),
            },
        )

    @property
    def enabled(self) -> bool:
        return True


def access_logger(trusted: Sequence[Network]) -> type[AccessLogger]:
    """AccessLogger for these trusted proxies (aiohttp builds it from a class, with no settings)."""
    return type("AccessLogger", (AccessLogger,), {"trusted": tuple(trusted)})
