"""HTTP framing of answers, byte by byte on a raw socket: the lean Answer (service/http/answer.py)
and the fast `POST /` path (service/http/httpserver.py) must frame exactly as aiohttp would."""

from __future__ import annotations

import email.utils
import gc
import logging
import socket
import time
from typing import Any

import orjson
import pytest

from tests.conftest import Admin, LiveServer

TARGET = "AWSCognitoIdentityProviderService.GetDevice"


def request(
    body: bytes,
    *,
    version: str = "1.1",
    method: str = "POST",
    path: str = "/",
    extra: str = "",
) -> bytes:
    return (
        f"{method} {path} HTTP/{version}\r\nHost: localhost\r\nX-Amz-Target: {TARGET}\r\n"
        f"Content-Type: application/x-amz-json-1.1\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


class Wire:
    """A raw client socket that reads whole answers by their Content-Length."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.head = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def answer(self, head_only: bool = False) -> tuple[str, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"closed before a whole head: {self.buf!r}"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head + b"\r\n\r\n"  # the last answer's head, byte for byte
        status, *lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, value = line.split(": ", 1)
            assert name.lower() not in headers, f"duplicate header {name}"
            headers[name.lower()] = value
        length = 0 if head_only else int(headers["content-length"])
        while len(self.buf) < length:
            assert self._fill(), "closed before the whole body"
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def closed(self, wait_s: float = 5.0) -> bool:
        """True once the server closes the connection (with nothing more sent)."""
        self.sock.settimeout(wait_s)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def wire(live: LiveServer) -> Any:
    client = Wire(live.port)
    yield client
    client.close()


@pytest.fixture
def ok_body(admin: Admin) -> tuple[bytes, str]:
    _, device, token = admin.user_with_device("framing")
    return orjson.dumps({"AccessToken": token, "DeviceKey": device}), device


BAD_TOKEN = orjson.dumps({"AccessToken": "abc.def.ghi", "DeviceKey": "us-east-1_0123abcd"})

# What every answer carries so that a browser page on any origin can read it (service/http/cors.py).
CORS_LINES = (
    b"Access-Control-Allow-Origin: *\r\n"
    b"Access-Control-Expose-Headers: x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date\r\n"
)
CORS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date",
}


def assert_cors(headers: dict[str, str]) -> None:
    assert {k: headers.get(k) for k in CORS} == CORS, headers


def normalised(head: bytes, headers: dict[str, str]) -> bytes:
    """`head` with its request id and date replaced by fixed strings."""
    return head.replace(headers["x-amzn-requestid"].encode(), b"<id>").replace(
        headers["date"].encode(), b"<date>"
    )


def test_ok_answer_has_cognito_headers_and_exact_length(
    wire: Wire, ok_body: tuple[bytes, str]
) -> None:
    body, device = ok_body
    wire.send(request(body))
    status, headers, payload = wire.answer()
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert int(headers["content-length"]) == len(payload)
    assert len(headers["x-amzn-requestid"]) == 36
    assert "connection" not in headers  # keep-alive is HTTP/1.1's default
    sent = email.utils.parsedate_to_datetime(headers["date"]).timestamp()
    assert abs(sent - time.time()) < 5
    assert orjson.loads(payload)["Device"]["DeviceKey"] == device
    assert normalised(wire.head, headers) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
        + CORS_LINES
        + b"x-amzn-RequestId: <id>\r\nContent-Length: %d\r\nDate: <date>\r\n\r\n" % len(payload)
    )


def test_error_answer_headers(wire: Wire) -> None:
    wire.send(request(BAD_TOKEN))
    status, headers, payload = wire.answer()
    assert status == "HTTP/1.1 400 Bad Request"
    assert headers["x-amzn-errortype"] == "NotAuthorizedException:"
    assert headers["x-amzn-errormessage"] == orjson.loads(payload)["message"]
    assert orjson.loads(payload)["__type"] == "NotAuthorizedException"
    assert normalised(wire.head, headers) == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n"
        + CORS_LINES
        + b"x-amzn-RequestId: <id>\r\nx-amzn-ErrorType: NotAuthorizedException:\r\n"
        b"x-amzn-ErrorMessage: Invalid Access Token\r\n"
        b"Content-Length: %d\r\nDate: <date>\r\n\r\n" % len(payload)
    )


# A preflight as Chromium sends it before the AWS SDK for JavaScript v3's GetDevice.
PREFLIGHT = (
    b"OPTIONS / HTTP/1.1\r\nHost: localhost\r\nOrigin: http://127.0.0.1:8000\r\n"
    b"Access-Control-Request-Method: POST\r\n"
    b"Access-Control-Request-Headers: amz-sdk-invocation-id,amz-sdk-request,content-type,"
    b"x-amz-target,x-amz-user-agent\r\n\r\n"
)
PREFLIGHT_ANSWER = (
    b"HTTP/1.1 200 OK\r\n"
    b"Access-Control-Allow-Origin: *\r\n"
    b"Access-Control-Allow-Methods: POST, OPTIONS\r\n"
    b"Access-Control-Allow-Headers: accept,amz-sdk-invocation-id,amz-sdk-request,authorization,"
    b"cache-control,content-encoding,content-type,x-amz-content-sha256,x-amz-date,"
    b"x-amz-security-token,x-amz-target,x-amz-user-agent,x-amzn-trace-id\r\n"
    b"Access-Control-Expose-Headers: x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date\r\n"
    b"Access-Control-Max-Age: 172800\r\n"
    b"x-amzn-RequestId: <id>\r\nContent-Length: 0\r\nDate: <date>\r\n\r\n"
)


def test_cors_preflight_is_answered_exactly(wire: Wire, ok_body: tuple[bytes, str]) -> None:
    wire.send(PREFLIGHT)
    status, headers, payload = wire.answer()
    assert (status, payload) == ("HTTP/1.1 200 OK", b"")
    assert len(headers["x-amzn-requestid"]) == 36
    assert normalised(wire.head, headers) == PREFLIGHT_ANSWER
    # The same with no Origin or Access-Control-Request-* at all, and with a query string.
    wire.send(b"OPTIONS /?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status, headers, payload = wire.answer()
    assert normalised(wire.head, headers) == PREFLIGHT_ANSWER
    # The connection stays open for the POST that follows, as a browser sends it.
    wire.send(request(ok_body[0], extra="Origin: http://127.0.0.1:8000\r\n"))
    status, headers, payload = wire.answer()
    assert status == "HTTP/1.1 200 OK"
    assert orjson.loads(payload)["Device"]["DeviceKey"] == ok_body[1]
    assert_cors(headers)


def test_cors_preflight_over_http10(live: LiveServer) -> None:
    client = Wire(live.port)
    try:
        client.send(PREFLIGHT.replace(b"HTTP/1.1", b"HTTP/1.0"))
        status, headers, payload = client.answer()
        assert (status, payload) == ("HTTP/1.0 200 OK", b"")
        assert normalised(client.head, headers) == PREFLIGHT_ANSWER.replace(
            b"HTTP/1.1", b"HTTP/1.0"
        )
        assert client.closed()
    finally:
        client.close()


def test_every_answer_allows_any_origin(wire: Wire, ok_body: tuple[bytes, str]) -> None:
    pool = "us-east-1_LocalPool"
    gets = ["/healthz", "/readyz", "/metrics", "/nowhere", f"/{pool}/.well-known/jwks.json"]
    gets += [f"/{pool}/.well-known/openid-configuration", "/us-east-1_Gone/.well-known/jwks.json"]
    for path in gets:
        wire.send(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        status, headers, _ = wire.answer()
        assert_cors(headers)
    for method in ("DELETE", "PUT", "OPTIONS"):
        wire.send(f"{method} /elsewhere HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        status, headers, _ = wire.answer()
        assert status == "HTTP/1.1 404 Not Found"
        assert_cors(headers)
    wire.send(b"HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert_cors(wire.answer(head_only=True)[1])
    wire.send(request(ok_body[0], path="/?routed=1"))
    assert_cors(wire.answer()[1])
    wire.send(request(b"{", version="1.0", extra="Connection: keep-alive\r\n"))
    status, headers, _ = wire.answer()
    assert status == "HTTP/1.0 400 Bad Request"
    assert_cors(headers)


def test_pipelined_requests_are_answered_in_order_on_one_connection(
    wire: Wire, ok_body: tuple[bytes, str]
) -> None:
    body, device = ok_body
    wire.send(request(body) + request(BAD_TOKEN) + request(body))
    answers = [wire.answer() for _ in range(3)]
    assert [a[0].split()[1] for a in answers] == ["200", "400", "200"]
    ids = {a[1]["x-amzn-requestid"] for a in answers}
    assert len(ids) == 3
    assert orjson.loads(answers[2][2])["Device"]["DeviceKey"] == device


def test_http11_connection_close_is_honoured(wire: Wire, ok_body: tuple[bytes, str]) -> None:
    wire.send(request(ok_body[0], extra="Connection: close\r\n"))
    status, headers, _ = wire.answer()
    assert status == "HTTP/1.1 200 OK"
    assert headers["connection"] == "close"
    assert wire.closed()


def test_http10_closes_unless_asked_to_keep_alive(
    live: LiveServer, ok_body: tuple[bytes, str]
) -> None:
    plain = Wire(live.port)
    try:
        plain.send(request(ok_body[0], version="1.0"))
        status, headers, _ = plain.answer()
        assert status == "HTTP/1.0 200 OK"
        assert "connection" not in headers  # closing is HTTP/1.0's default
        assert plain.closed()
    finally:
        plain.close()
    kept = Wire(live.port)
    try:
        for _ in range(2):
            kept.send(request(ok_body[0], version="1.0", extra="Connection: keep-alive\r\n"))
            status, headers, _ = kept.answer()
            assert status == "HTTP/1.0 200 OK"
            assert headers["connection"] == "keep-alive"
        assert not kept.closed(wait_s=0.3)
    finally:
        kept.close()


def test_head_gets_headers_and_no_body(wire: Wire) -> None:
    wire.send(b"HEAD /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status, headers, _ = wire.answer(head_only=True)
    assert status == "HTTP/1.1 404 Not Found"
    assert int(headers["content-length"]) > 0
    wire.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    # Had the HEAD answer carried a body, it would be read here instead of the next answer.
    status, _, payload = wire.answer()
    assert status == "HTTP/1.1 200 OK"
    assert orjson.loads(payload) == {"status": "ok"}


def test_routed_post_paths_answer_like_the_fast_path(
    wire: Wire, ok_body: tuple[bytes, str]
) -> None:
    body, device = ok_body
    # A query string, or Expect: 100-continue, leaves the fast path for the router.
    wire.send(request(body, path="/?x=1"))
    status, _, payload = wire.answer()
    assert status == "HTTP/1.1 200 OK"
    assert orjson.loads(payload)["Device"]["DeviceKey"] == device
    head = request(b"", extra="Expect: 100-continue\r\n").replace(
        b"Content-Length: 0", b"Content-Length: %d" % len(body)
    )
    wire.send(head)
    interim = wire.answer(head_only=True)
    assert interim[0] == "HTTP/1.1 100 Continue"
    wire.send(body)
    status, _, payload = wire.answer()
    assert status == "HTTP/1.1 200 OK"
    assert orjson.loads(payload)["Device"]["DeviceKey"] == device


def test_error_answers_leave_no_garbage_cycles(live_factory: Any) -> None:
    # A flood of error answers (a throttled user, forged tokens) must not leave reference
    # cycles for the cyclic GC: its collections were a 30 ms p99 in the throttle benchmark.
    # One token an hour: nothing refills the bucket while the flood runs, however slowly.
    server, helper = live_factory(user_rate_per_s=1 / 3600, user_burst=1)
    _, device, token = helper.user_with_device("flood")
    throttled = request(orjson.dumps({"AccessToken": token, "DeviceKey": device}))
    client = Wire(server.port)
    try:
        floods = (
            (throttled, "TooManyRequestsException:"),
            (request(BAD_TOKEN), "NotAuthorizedException:"),
        )
        for body, expected in floods:
            for _ in range(20):  # warm up: caches, first-use allocations
                client.send(body)
                client.answer()
            gc.collect()
            gc.disable()
            try:
                for _ in range(300):
                    client.send(body)
                    status, headers, _ = client.answer()
                    assert status.startswith("HTTP/1.1 400"), status
                    assert headers["x-amzn-errortype"] == expected
                found = gc.collect()
            finally:
                gc.enable()
            assert found < 100, f"{found} objects in cycles after 300 {expected} answers"
    finally:
        client.close()


def _internal_errors(port: int) -> float:
    wire = Wire(port)
    try:
        wire.send(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        _, _, text = wire.answer()
    finally:
        wire.close()
    total = 0.0
    for line in text.decode().splitlines():
        if line.startswith("cognito_requests_total{") and 'type="InternalErrorException"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_client_gone_mid_body_is_not_a_server_error(
    live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    before = _internal_errors(live.port)
    with caplog.at_level(logging.WARNING, logger="service"):
        for how in ("close", "half-close"):
            client = Wire(live.port)
            client.send(request(BAD_TOKEN)[:-10])  # Content-Length promises 10 bytes more
            time.sleep(0.2)  # the handler is waiting for the body now
            if how == "close":
                client.close()
            else:
                client.sock.shutdown(socket.SHUT_WR)
                assert client.closed()
                client.close()
        time.sleep(0.5)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("service")] == []
    assert _internal_errors(live.port) == before


def assert_json_error(
    answer: tuple[str, dict[str, str], bytes], status: int, type_name: str
) -> str:
    """A Cognito-shaped error, as every error answer must be; returns its message."""
    line, headers, payload = answer
    assert line.split()[1] == str(status), (line, payload)
    body = orjson.loads(payload)
    assert set(body) == {"__type", "message"} and body["__type"] == type_name, body
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert headers["x-amzn-errortype"] == f"{type_name}:"
    assert headers["x-amzn-errormessage"] == body["message"]
    assert len(headers["x-amzn-requestid"]) == 36
    assert "server" not in headers
    assert_cors(headers)
    return str(body["message"])


@pytest.mark.parametrize(
    ("head", "status", "type_name"),
    [
        ("OPTIONS * HTTP/1.1", 404, "UnknownOperationException"),
        ("CONNECT example.com:443 HTTP/1.1", 404, "UnknownOperationException"),
        ("GET http://example.com HTTP/1.1", 404, "UnknownOperationException"),
        ("GET /nope HTTP/1.1\r\nExpect: 200-ok", 417, "SerializationException"),
        ("POST / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 0", 417, "SerializationException"),
    ],
)
def test_requests_the_router_rejects_get_json(
    wire: Wire, head: str, status: int, type_name: str
) -> None:
    wire.send(f"{head}\r\nHost: localhost\r\n\r\n".encode())
    assert_json_error(wire.answer(), status, type_name)


def test_no_answer_names_the_server_software(wire: Wire, ok_body: tuple[bytes, str]) -> None:
    pool = "us-east-1_LocalPool"
    gets = ["/healthz", "/readyz", "/metrics", "/nowhere", f"/{pool}/.well-known/jwks.json"]
    gets.append(f"/{pool}/.well-known/openid-configuration")
    for path in gets:
        wire.send(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        status, headers, _ = wire.answer()
        assert "server" not in headers, (path, status, headers["server"])
    wire.send(request(ok_body[0]))
    status, headers, _ = wire.answer()
    assert status == "HTTP/1.1 200 OK" and "server" not in headers


# -- time limits: HEADER_TIMEOUT_S, KEEPALIVE_TIMEOUT_S ------------------------------------
# Each check waits far longer than the limit for the close (a busy machine only delays it),
# and checks the connection is still open only at times well inside the limit.
def _closed_after(client: Wire, started: float) -> float:
    assert client.closed(wait_s=15), "the server kept the connection open"
    return time.monotonic() - started


def test_a_half_sent_request_line_is_closed_after_the_header_timeout(live_factory: Any) -> None:
    server, _ = live_factory(header_timeout_s=1.0)
    started = time.monotonic()  # before the connection opens: the clock starts then
    client = Wire(server.port)
    try:
        client.send(b"POST / HTT")
        message = assert_json_error(client.answer(), 408, "RequestTimeoutException")
        assert message == "The request head did not arrive within 1 s."
        assert _closed_after(client, started) >= 0.95
    finally:
        client.close()


def test_a_silent_connection_is_closed_after_the_header_timeout(live_factory: Any) -> None:
    server, _ = live_factory(header_timeout_s=1.0)
    started = time.monotonic()
    client = Wire(server.port)
    try:
        assert _closed_after(client, started) >= 0.95  # closed with nothing sent: no request
    finally:
        client.close()


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(
    live_factory: Any,
) -> None:
    server, helper = live_factory(header_timeout_s=0.3, keepalive_timeout_s=2.0)
    _, device, token = helper.user_with_device("idle")
    client = Wire(server.port)
    try:
        started = time.monotonic()  # before the answer, whose end starts the idle clock
        client.send(request(orjson.dumps({"AccessToken": token, "DeviceKey": device})))
        assert client.answer()[0] == "HTTP/1.1 200 OK"
        # Idle for longer than the header timeout: that one runs only once a head begins.
        assert not client.closed(wait_s=0.6)
        assert _closed_after(client, started) >= 1.95
    finally:
        client.close()


def test_slow_requests_within_the_limits_are_answered(live_factory: Any) -> None:
    server, helper = live_factory(header_timeout_s=4.0, keepalive_timeout_s=2.0)
    _, device, token = helper.user_with_device("patient")
    whole = request(orjson.dumps({"AccessToken": token, "DeviceKey": device}))
    client = Wire(server.port)
    try:
        client.send(whole[:5])
        time.sleep(0.5)  # a head may take its time, within HEADER_TIMEOUT_S of the opening
        client.send(whole[5:])
        assert client.answer()[0] == "HTTP/1.1 200 OK"
        # The next head begins before the idle limit and ends after it: it has its own
        # HEADER_TIMEOUT_S from its first byte.
        time.sleep(0.5)
        client.send(whole[:5])
        time.sleep(2.0)
        client.send(whole[5:])
        assert client.answer()[0] == "HTTP/1.1 200 OK"
        client.send(whole)
        assert client.answer()[0] == "HTTP/1.1 200 OK"
    finally:
        client.close()


# -- pipelining and malformed requests ------------------------------------------------------
def test_a_malformed_request_after_a_valid_one(wire: Wire, ok_body: tuple[bytes, str]) -> None:
    # In a later segment: the valid request is answered, then the malformed one, then the
    # connection closes. (In the same segment, aiohttp's parser drops what it parsed before the
    # error: docs/errors.md's known limits.)
    body, device = ok_body
    wire.send(request(body))
    status, _, payload = wire.answer()
    assert status == "HTTP/1.1 200 OK"
    assert orjson.loads(payload)["Device"]["DeviceKey"] == device
    wire.send(b"GARBAGE / HTTP/1.1\r\n\r\n")
    assert_json_error(wire.answer(), 400, "SerializationException")
    assert wire.closed()


def test_a_malformed_request_pipelined_behind_a_valid_one(
    wire: Wire, ok_body: tuple[bytes, str]
) -> None:
    # What is guaranteed in one segment: every answer is JSON, any answer before the error is
    # the valid request's, the error is last, and the connection closes after it.
    body, device = ok_body
    wire.send(request(body) + b"GARBAGE / HTTP/1.1\r\n\r\n")
    answers = [wire.answer()]
    while answers[-1][0].split()[1] == "200":
        assert orjson.loads(answers[-1][2])["Device"]["DeviceKey"] == device
        answers.append(wire.answer())
    assert len(answers) <= 2
    assert_json_error(answers[-1], 400, "SerializationException")
    assert wire.closed()
