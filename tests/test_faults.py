"""Faults and hostile clients, through the live service: aborted requests never mix answers,
Redis outages and lost scripts, slow Redis, and malformed or slow clients."""

from __future__ import annotations

import asyncio
import http.client
import random
import socket
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
import redis

from tests.conftest import Admin, LiveServer, RedisServer, flush, make_settings
from tests.timing import LATE_S

TARGET = "AWSCognitoIdentityProviderService.GetDevice"
HEADERS = {"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"}
FAST_BUCKET = {"user_rate_per_s": 1_000_000.0, "user_burst": 1_000_000}
REDIS_TIMEOUT_S = 0.5  # the service's on a private Redis (on_private)


def post(port: int, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("POST", "/", body, headers or HEADERS)
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


def test_aborted_requests_never_mix_up_answers(live_factory: Any) -> None:
    server, helper = live_factory(**FAST_BUCKET)
    people = [helper.user_with_device(f"user{i}") for i in range(12)]
    for _, device, token in people:  # warm: the storm runs on the one-command path
        assert (
            post(server.port, orjson.dumps({"AccessToken": token, "DeviceKey": device}))[0] == 200
        )
    rng = random.Random(11)
    completed = aborted = 0
    url = server.url + "/"

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal completed, aborted
        user, device, token = rng.choice(people)
        body = orjson.dumps({"AccessToken": token, "DeviceKey": device})
        timeout = aiohttp.ClientTimeout(total=rng.choice([0.0005, 0.001, 0.002, 10]))
        try:
            async with session.post(url, data=body, headers=HEADERS, timeout=timeout) as resp:
                answer = orjson.loads(await resp.read())
        except (TimeoutError, aiohttp.ClientError):
            aborted += 1
            return
        assert resp.status == 200, answer
        # Device keys are unique to their user: the key says whose answer this is. The name
        # (each user's own) says it again, since user calls show no owner attribute.
        assert answer["Device"]["DeviceKey"] == device
        attributes = {a["Name"]: a["Value"] for a in answer["Device"]["DeviceAttributes"]}
        assert attributes["device_name"] == f"{user.username}-phone"
        completed += 1

    async def storm() -> None:
        connector = aiohttp.TCPConnector(limit=200, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(6):
                await asyncio.gather(*(one(session) for _ in range(400)))

    asyncio.run(storm())
    assert completed > 300 and aborted > 100, (completed, aborted)
    # The service is still in step afterwards.
    for _user, device, token in people:
        status, answer = post(
            server.port, orjson.dumps({"AccessToken": token, "DeviceKey": device})
        )
        assert status == 200 and answer["Device"]["DeviceKey"] == device


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def on_private(private_redis: RedisServer) -> Iterator[tuple[LiveServer, Admin]]:
    settings = make_settings(private_redis.url, redis_timeout_s=REDIS_TIMEOUT_S)
    from tests.conftest import flush

    flush(settings)
    server = LiveServer(settings).start()
    helper = Admin(settings, server)
    helper.wait_pools()
    yield server, helper
    server.stop()
    helper.redis.close()


def get(port: int, path: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


def test_redis_outage_fast_errors_not_ready_then_recovery(
    on_private: tuple[LiveServer, Admin], private_redis: RedisServer
) -> None:
    server, helper = on_private
    _, device, token = helper.user_with_device("outage")
    body = orjson.dumps({"AccessToken": token, "DeviceKey": device})
    assert post(server.port, body)[0] == 200
    helper.redis.close()
    private_redis.stop()
    for _ in range(5):
        started = time.monotonic()
        status, answer = post(server.port, body)
        assert (status, answer) == (
            500,
            {"__type": "InternalErrorException", "message": "Internal server error."},
        )
        assert time.monotonic() - started < REDIS_TIMEOUT_S + LATE_S
    assert get(server.port, "/readyz")[0] == 503
    assert get(server.port, "/healthz")[0] == 200
    private_redis.start()  # same port, empty: the data is gone
    # Reachable again, but without this service's data: not ready (docs/redis.md, lost data)
    # until it is back, here as a fresh start makes it (the default pool).
    deadline = time.monotonic() + 10
    while (answer := get(server.port, "/readyz"))[0] != 503 or "pools record" not in str(answer):
        assert time.monotonic() < deadline, f"readiness did not see the data gone: {answer}"
        time.sleep(0.05)
    flush(helper.settings)
    deadline = time.monotonic() + 10
    while get(server.port, "/readyz")[0] != 200:
        assert time.monotonic() < deadline, "not ready again after the data came back"
        time.sleep(0.05)
    status, answer = post(server.port, body)
    # The user's data went with the old server (no persistence here): a proper answer anyway.
    assert status == 400 and answer["__type"] in ("NotAuthorizedException", "UserNotFoundException")


def test_lost_scripts_are_reloaded_by_the_next_request(
    on_private: tuple[LiveServer, Admin], private_redis: RedisServer
) -> None:
    server, helper = on_private
    _, device, token = helper.user_with_device("flush")
    body = orjson.dumps({"AccessToken": token, "DeviceKey": device})
    assert post(server.port, body)[0] == 200
    helper.redis.script_flush()
    status, answer = post(server.port, body)
    assert status == 200 and answer["Device"]["DeviceKey"] == device


def test_slow_redis_is_bounded_by_the_timeout(
    on_private: tuple[LiveServer, Admin], private_redis: RedisServer
) -> None:
    server, helper = on_private
    _, device, token = helper.user_with_device("slow")
    body = orjson.dumps({"AccessToken": token, "DeviceKey": device})
    assert post(server.port, body)[0] == 200
    pauser = redis.Redis.from_url(private_redis.url)
    pause_s = REDIS_TIMEOUT_S + LATE_S + 1  # without the timeout, past the bound
    pauser.execute_command("CLIENT", "PAUSE", int(pause_s * 1000))
    started = time.monotonic()
    status, answer = post(server.port, body)
    elapsed = time.monotonic() - started
    assert status == 500 and answer["__type"] == "InternalErrorException"
    assert elapsed < REDIS_TIMEOUT_S + LATE_S
    time.sleep(max(0.0, started + pause_s + 0.2 - time.monotonic()))
    status, answer = post(server.port, body)
    assert status == 200 and answer["Device"]["DeviceKey"] == device
    pauser.close()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[" * 5000 + b"]" * 5000, "SerializationException"),
        (b'{"DeviceKey": ' + b"[" * 3000 + b"]" * 3000 + b"}", "SerializationException"),
        (b'{"DeviceKey": "\xff\xfe"}', "SerializationException"),
        (b"\x00\x01\x02", "SerializationException"),
        ('{"DeviceKey": "us-east-1_é", "AccessToken": "x"}'.encode(), "InvalidParameterException"),
        (
            b'{"DeviceKey": "bad", "DeviceKey": "x_0", "AccessToken": "a.b.c"}',
            "NotAuthorizedException",
        ),
        (
            b'{"DeviceKey": "x_0\\r\\nX-Injected: 1", "AccessToken": "x"}',
            "InvalidParameterException",
        ),
        (b'{"DeviceKey": "' + b"a" * 60000 + b'"}', "InvalidParameterException"),
    ],
)
def test_hostile_bodies_get_cognito_errors(live: LiveServer, body: bytes, expected: str) -> None:
    status, answer = post(live.port, body)
    assert status == 400 and answer["__type"] == expected
    assert set(answer) == {"__type", "message"}


def test_header_flood_and_bad_http_get_json(live: LiveServer) -> None:
    for raw in (
        b"POST / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: y\r\n" % i for i in range(500))
        + b"\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as conn:
            conn.sendall(raw)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.") and b" 400 " in head.split(b"\r\n")[0]
        assert b"application/x-amz-json-1.1" in head
        assert orjson.loads(body)["__type"] == "SerializationException"
    assert get(live.port, "/healthz")[0] == 200


def test_slow_body_times_out(live_factory: Any) -> None:
    body_timeout_s = 0.5
    server, _ = live_factory(body_timeout_s=body_timeout_s)
    # Without the timeout the read would wait for the socket's own, past the bound.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: " + TARGET.encode()
            + b"\r\nContent-Length: 100\r\n\r\n{\"Dev"
        )  # fmt: skip
        started = time.monotonic()
        reply = conn.recv(65536)
        assert time.monotonic() - started < body_timeout_s + LATE_S
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b" 408 " in head.split(b"\r\n")[0]
    assert orjson.loads(body)["__type"] == "RequestTimeoutException"
