"""service/http/tracing.py: with OTEL_TRACES_EXPORTER=console, a real `serve` process writes a span
per request (joining the caller's traceparent) and one per Redis call under it; without it,
nothing of OpenTelemetry is imported or wrapped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

from service.http.api import Api
from service.http.app import API
from service.runtime.settings import Settings
from tests.conftest import PROJECT, Admin, LiveServer
from tests.test_server import ServeProcess

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def _objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects in `text` (the console exporter's spans, amid the banner lines)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = text.find("{", end)
    return found


def test_console_exporter_writes_request_and_redis_spans(
    settings: Settings, clean_redis: None
) -> None:
    helper = Admin(settings, None)
    _, device, token = helper.user_with_device("trace")
    helper.redis.close()
    server = ServeProcess(
        settings.redis_url,
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="cgd-under-test",
        OTEL_BSP_SCHEDULE_DELAY="50",
    )
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(
        "POST",
        "/",
        json.dumps({"AccessToken": token, "DeviceKey": device}),
        {
            "X-Amz-Target": "AWSCognitoIdentityProviderService.GetDevice",
            "Content-Type": "application/x-amz-json-1.1",
            "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
        },
    )
    assert conn.getresponse().status == 200
    conn.close()
    server.proc.send_signal(signal.SIGTERM)
    out, _ = server.proc.communicate(timeout=30)
    server.log.close()
    spans = _objects(out)
    request = [s for s in spans if s.get("name") == "GetDevice"]
    assert len(request) == 1, out[-3000:]
    span = request[0]
    assert span["kind"] == "SpanKind.SERVER"
    assert span["context"]["trace_id"] == "0x" + TRACE_ID  # the caller's trace
    assert span["parent_id"] == "0x" + PARENT_ID
    assert span["attributes"]["rpc.method"] == "GetDevice"
    assert span["attributes"]["http.response.status_code"] == 200
    assert span["resource"]["attributes"]["service.name"] == "cgd-under-test"
    redis_spans = [s for s in spans if s.get("name") == "redis EVALSHA get_device"]
    # A first call: the claims cache misses, so the script runs twice (verify, then store).
    assert len(redis_spans) == 2
    for child in redis_spans:
        assert child["parent_id"] == span["context"]["span_id"]
        assert child["attributes"]["db.system.name"] == "redis"
    assert token not in out  # nothing of the request's secrets in a span


def test_without_otel_nothing_is_wrapped_or_imported(live: LiveServer) -> None:
    assert type(live.app[API]) is Api
    # redis-py 7 imports the OpenTelemetry API itself when installed (its own opt-in
    # observability): the baseline. Nothing of ours may import more (the SDK, a tracer).
    code = (
        "import sys, redis, redis.asyncio, redis.asyncio.cluster\n"
        "otel = lambda: {m for m in sys.modules if m.startswith('opentelemetry')}\n"
        "base = otel()\n"
        "import service.http.server, service.http.app, service.http.tracing\n"
        "assert otel() == base, sorted(otel() - base)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
