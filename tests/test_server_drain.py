"""SIGTERM while a request's body is still arriving: the request is finished, idle connections
close at once, and `serve` exits 0 promptly; directly, and with deploy/nginx.conf in front."""

from __future__ import annotations

import http.client
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from service.runtime.settings import Settings
from tests.conftest import Admin
from tests.test_deploy import Nginx, nginx_front  # noqa: F401 (a fixture)
from tests.test_server import TARGET, ServeProcess, serve_factory  # noqa: F401 (a fixture)

# The drain's limit here. A prompt stop takes about a second; one that waited the grace out, as
# before (the body dropped, a 408 from the body timeout), takes all of it: half is the bound.
GRACE_S = 10
PROMPT_S = GRACE_S / 2


def _head(port: int, body_length: int) -> bytes:
    return (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Amz-Target: {TARGET}\r\n"
        f"Content-Type: application/x-amz-json-1.1\r\nContent-Length: {body_length}\r\n\r\n"
    ).encode()


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    return resp.status, headers, orjson.loads(resp.read())


def _idle_keepalive_connection(port: int) -> socket.socket:
    """A connection that has had one answer and now waits for its next request."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    status, headers, _ = _answer(sock)
    assert status == 200 and headers.get("connection", "").lower() != "close"
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_body_arriving_across_sigterm_is_answered_and_the_stop_is_prompt(
    serve_factory: Any,  # noqa: F811
    settings: Settings,
) -> None:
    server: ServeProcess = serve_factory(GRACE_S=str(GRACE_S), BODY_TIMEOUT_S=str(GRACE_S))
    _, device, token = Admin(settings, None).user_with_device("drain")
    body = orjson.dumps({"AccessToken": token, "DeviceKey": device})
    idle = _idle_keepalive_connection(server.port)
    busy = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    busy.sendall(_head(server.port, len(body)) + body[:20])
    time.sleep(0.3)  # the head is parsed, the handler waits for the rest of the body

    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    # Idle keep-alive connections are closed at once, and nothing new is accepted.
    assert _closed_within(idle, 2.0), "the idle keep-alive connection stayed open"
    time.sleep(0.3)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()

    busy.sendall(body[20:])
    status, headers, answer = _answer(busy)
    assert status == 200, answer
    assert answer["Device"]["DeviceKey"] == device
    assert headers["connection"].lower() == "close"  # this connection ends with its answer
    assert server.proc.wait(GRACE_S + 5) == 0
    # Before: the body was dropped, the client got 408 after ~9.7 s and the stop took 10.3 s.
    assert time.monotonic() - signalled < PROMPT_S
    idle.close()
    busy.close()


def test_through_nginx_a_body_arriving_across_sigterm_reaches_another_upstream(
    serve_factory: Any,  # noqa: F811
    settings: Settings,
    nginx_front: Callable[[str], Nginx],  # noqa: F811
) -> None:
    """nginx reads a whole body before it sends the request on (request buffering), so the
    stopping service never sees half of it: nginx's kept-alive connection to it is closed by
    the drain, its port is closed, and nginx passes the request to the next upstream (here a
    backup server) instead of answering 500. The stopping service exits 0 promptly."""
    stopping: ServeProcess = serve_factory(GRACE_S=str(GRACE_S))
    standby: ServeProcess = serve_factory(GRACE_S=str(GRACE_S))
    # NGINX_UPSTREAM is one "server" line's address; two servers need the second one spliced
    # in: `server A; server B backup;`. nginx tries A first and B only when A fails.
    front = nginx_front(f"127.0.0.1:{stopping.port}; server 127.0.0.1:{standby.port} backup")
    _, device, token = Admin(settings, None).user_with_device("drain-nginx")
    body = orjson.dumps({"AccessToken": token, "DeviceKey": device})

    warm = socket.create_connection(("127.0.0.1", front.port), timeout=10)
    warm.sendall(_head(front.port, len(body)) + body)
    status, _, answer = _answer(warm)  # nginx now keeps a connection to A alive
    assert status == 200, answer
    warm.close()

    client = socket.create_connection(("127.0.0.1", front.port), timeout=10)
    client.sendall(_head(front.port, len(body)) + body[:20])
    time.sleep(0.3)
    signalled = time.monotonic()
    stopping.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    client.sendall(body[20:])
    status, _, answer = _answer(client)
    assert status == 200, answer
    assert answer["Device"]["DeviceKey"] == device
    client.close()
    assert stopping.proc.wait(GRACE_S + 5) == 0
    assert time.monotonic() - signalled < PROMPT_S
    lines = [x for x in front.access_log(2) if x["status"] == 200]
    assert lines[-1]["upstream_addr"].endswith(f"127.0.0.1:{standby.port}")
