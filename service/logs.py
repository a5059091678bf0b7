"""Structured logs: one JSON object per line. Tokens and secrets are never logged."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from .answer import Answer

REQUEST_ID = "request_id"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for extra in (REQUEST_ID, "client_ip", "status", "type", "duration_ms", "path"):
            if extra in record.__dict__:
                entry[extra] = record.__dict__[extra]
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class AccessLogger(AbstractAccessLogger):
    """The access log (off unless ACCESS_LOG=true): method, path, status, time, request id.
    The body (and so the access token) is never logged."""

    def log(self, request: BaseRequest, response: StreamResponse, time_s: float) -> None:
        # Only API answers (Answers) carry a request id and an error type.
        request_id = error_type = None
        if isinstance(response, Answer):
            request_id, error_type = response.request_id, response.error_type
        self.logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status,
            extra={
                REQUEST_ID: request_id,
                "client_ip": request.remote,
                "path": request.path,
                "status": response.status,
                "type": error_type or "OK",
                "duration_ms": round(time_s * 1000, 3),
            },
        )

    @property
    def enabled(self) -> bool:
        return True
