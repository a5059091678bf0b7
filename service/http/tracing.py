"""Optional OpenTelemetry spans: one per API request, one per Redis call on the request path.

On only when OTEL_TRACES_EXPORTER names exporters (`console`, `otlp`, ...) and the SDK is
installed (`pip install cognito-device-api[tracing]`, plus the exporter's own package for
OTLP). The SDK reads its other standard variables itself: OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_EXPORTER_OTLP_*.

Off, it costs nothing: this module imports no OpenTelemetry, and the app wraps nothing (the
request path runs the same objects as before; bench/ shows it). (redis-py 7 imports the
OpenTelemetry API itself when it is installed, for its own opt-in observability: not ours.)
On, the API object and the Redis pipe are replaced by wrappers that open a span around each
call. Incoming W3C `traceparent` headers are honoured: a request's span joins its caller's
trace.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from ..redis_io.pipe import Pipe
from ..redis_io.script import Arg, Script
from ..runtime.settings import Settings
from . import protocol
from .api import Api

# Named as before the move into layers (issue 23): log filters and tests match the name.
log = logging.getLogger("service.tracing")

_NAME = "cognito-device-api"


def tracer(settings: Settings) -> Any | None:
    """A tracer exporting as the OTEL_* variables say; None when tracing is off or the SDK is
    missing (then a warning says so)."""
    names = [n.strip() for n in settings.otel_traces_exporter.split(",") if n.strip()]
    if not names or names == ["none"]:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_TRACES_EXPORTER is set but opentelemetry-sdk is not installed")
        return None
    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": _NAME}))
    provider = TracerProvider(resource=resource)
    for name in names:
        if name == "none":
            continue
        # How the SDK's own auto-configuration finds exporters: by entry point name.
        found = importlib.metadata.entry_points(group="opentelemetry_traces_exporter", name=name)
        if not found:
            log.warning("no OpenTelemetry span exporter named %r is installed", name)
            continue
        exporter = next(iter(found)).load()
        provider.add_span_processor(BatchSpanProcessor(exporter()))
    trace.set_tracer_provider(provider)
    return trace.get_tracer(_NAME)


def shutdown() -> None:
    """Export what is buffered (at the worker's exit)."""
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


class TracedApi(Api):
    """Api with a SERVER span per request, named by its operation."""

    def __init__(self, *args: Any, tracer: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracer = tracer

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        from opentelemetry import propagate, trace

        target = request.headers.get("X-Amz-Target") or ""
        operation = target.removeprefix(protocol.TARGET_PREFIX)
        if operation not in self.operations:
            operation = "unknown"  # bounded, as the metrics' operation label
        with self.tracer.start_as_current_span(
            operation,
            context=propagate.extract(request.headers),
            kind=trace.SpanKind.SERVER,
            attributes={
                "rpc.system": "aws-api",
                "rpc.service": "AWSCognitoIdentityProviderService",
                "rpc.method": operation,
                "http.request.method": request.method,
            },
        ) as span:
            response = await super().__call__(request)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(trace.Status(trace.StatusCode.ERROR))
            return response


class TracedPipe:
    """A Pipe with a CLIENT span per command (Script calls named by their script)."""

    def __init__(self, pipe: Pipe, tracer: Any) -> None:
        self.pipe = pipe
        self.tracer = tracer

    def _span(self, operation: str, summary: str) -> Any:
        from opentelemetry import trace

        return self.tracer.start_as_current_span(
            f"redis {summary}",
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system.name": "redis", "db.operation.name": operation},
        )

    async def start(self) -> None:
        await self.pipe.start()

    async def execute(self, *args: Arg) -> Any:
        command = str(args[0]) if args else ""
        with self._span(command, command):
            return await self.pipe.execute(*args)

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        with self._span("EVALSHA", f"EVALSHA {script.name}"):
            return await self.pipe.evalsha(script, keys, args)

    async def close(self) -> None:
        await self.pipe.close()
