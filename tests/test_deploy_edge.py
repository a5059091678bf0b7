"""deploy/nginx.conf as the public edge: what it refuses, hides and retries, run for real.

- The admin plane (every SigV4-signed operation) is refused with AccessDeniedException, and any
  X-Amz-Target that names no user operation with UnknownOperationException; neither reaches
  the service. The nginx lists are the catalogue's (service/model/catalog.py), so they cannot drift.
- /readyz (Redis's error text) is not served at the edge.
- A POST that reached an upstream is never sent to another one; a connect failure is retried.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator

import orjson
import pytest
from botocore.exceptions import ClientError

from service.http.protocol import TARGET_PREFIX
from service.model.catalog import SIGNED_OPERATIONS, UNSIGNED_OPERATIONS
from tests import test_deploy
from tests.conftest import Admin, LiveServer, boto_client, client_error, free_port
from tests.test_deploy import DEPLOY, Nginx, assert_cognito_error, call

nginx_front = test_deploy.nginx_front  # the fixture: deploy/nginx.conf in front of an upstream


def _edge_map() -> dict[str, set[str]]:
    """The `$cognito_edge` map of deploy/nginx.conf: verdict -> the operations given it."""
    text = (DEPLOY / "nginx.conf").read_text()
    block = re.search(r"map \$http_x_amz_target \$cognito_edge \{(.*?)\n    \}", text, re.S)
    assert block, "no map on X-Amz-Target in deploy/nginx.conf"
    verdicts: dict[str, set[str]] = {}
    for key, verdict in re.findall(r"^\s*(\S+)\s+(\w+);", block[1], re.M):
        if key.startswith(TARGET_PREFIX):
            verdicts.setdefault(verdict, set()).add(key[len(TARGET_PREFIX) :])
        else:
            assert (key, verdict) in {("default", "unknown"), ('""', "pass")}, key
    return verdicts


def test_nginx_edge_lists_are_the_catalogue() -> None:
    verdicts = _edge_map()
    assert set(verdicts) == {"pass", "admin"}
    assert verdicts["pass"] == UNSIGNED_OPERATIONS
    assert verdicts["admin"] == SIGNED_OPERATIONS


def _target(name: str) -> dict[str, str]:
    return {"X-Amz-Target": TARGET_PREFIX + name}


def test_nginx_refuses_the_admin_plane(
    live: LiveServer, admin: Admin, nginx_front: Callable[[str], Nginx]
) -> None:
    front = nginx_front(f"127.0.0.1:{live.port}")
    _, device, token = admin.user_with_device()
    direct, edge = boto_client(live.url), boto_client(front.url)
    try:
        # Signed with the admin pair, the call works at the service and is refused at the edge.
        pools = direct.list_user_pools(MaxResults=10)["UserPools"]
        assert pools
        calls = {
            "ListUserPools": lambda: edge.list_user_pools(MaxResults=10),
            "CreateUserPool": lambda: edge.create_user_pool(PoolName="edge"),
            "AdminGetUser": lambda: edge.admin_get_user(
                UserPoolId=pools[0]["Id"], Username="alice"
            ),
            "ListUsers": lambda: edge.list_users(UserPoolId=pools[0]["Id"]),
        }
        for name, attempt in calls.items():
            with pytest.raises(ClientError) as info:
                attempt()
            code, message, status = client_error(info)
            assert (code, status) == ("AccessDeniedException", 400), message
            assert f"cognito-idp:{name} " in message, message
        # A user's own operations pass.
        got = edge.get_device(AccessToken=token, DeviceKey=device)
        assert got["Device"]["DeviceKey"] == device
    finally:
        direct.close()
        edge.close()
    assert len(direct.list_user_pools(MaxResults=10)["UserPools"]) == len(pools)

    # What is not exactly a user operation's name never reaches the service either.
    for target in (
        TARGET_PREFIX.lower() + "admingetuser",
        TARGET_PREFIX + "AdminGetUser ",  # nginx and aiohttp both strip spaces: still admin
        TARGET_PREFIX + "Nope",
        "AdminGetUser",
    ):
        answer = call(front.port, {}, {"X-Amz-Target": target})
        assert answer[0] == 400, (target, answer)
        assert orjson.loads(answer[2])["__type"] in {
            "AccessDeniedException",
            "UnknownOperationException",
        }
        assert_cognito_error(answer, 400, orjson.loads(answer[2])["__type"])
    denied = call(front.port, {}, _target("AdminDeleteUser"))
    assert_cognito_error(denied, 400, "AccessDeniedException")
    assert denied[1]["x-amzn-errormessage"] == orjson.loads(denied[2])["message"]
    lines = front.access_log(10)
    refused = [x for x in lines if x["status"] == 400]
    assert len(refused) == 9 and all(x["upstream_addr"] == "" for x in refused), refused


def test_nginx_does_not_serve_readyz(live: LiveServer, nginx_front: Callable[[str], Nginx]) -> None:
    front = nginx_front(f"127.0.0.1:{live.port}")
    assert call(live.port, method="GET", path="/readyz")[0] == 200  # inside: the probe's answer
    answer = call(front.port, method="GET", path="/readyz")
    assert_cognito_error(answer, 404, "UnknownOperationException")
    assert b"redis" not in answer[2].lower() and b"ready" not in answer[2]
    assert call(front.port, method="GET", path="/healthz")[0] == 200


class DropAfterRequest:
    """An upstream that reads each request whole, then closes without answering."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    while length and len(body) < int(length[1]):
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                except OSError:
                    continue
                if data:
                    self.requests.append(head)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def dropper() -> Iterator[DropAfterRequest]:
    upstream = DropAfterRequest()
    yield upstream
    upstream.close()


def test_nginx_never_sends_a_post_twice(
    live: LiveServer,
    admin: Admin,
    nginx_front: Callable[[str], Nginx],
    dropper: DropAfterRequest,
) -> None:
    # Two upstream servers (the placeholder takes "host:port", so the second `server` line
    # rides in it): the first takes the request and dies; the backup is the real service.
    front = nginx_front(f"127.0.0.1:{dropper.port}; server 127.0.0.1:{live.port} backup")
    _, device, token = admin.user_with_device()
    answer = call(front.port, {"AccessToken": token, "DeviceKey": device})
    # It may have run at the first server: the client hears of a failure, and retries itself.
    assert_cognito_error(answer, 500, "InternalErrorException")
    assert len(dropper.requests) == 1
    assert [x["upstream_addr"] for x in front.access_log(1)] == [f"127.0.0.1:{dropper.port}"]
    # A GET that failed the same way is passed on: it changes nothing.
    assert call(front.port, method="GET", path="/healthz")[0] == 200


def test_nginx_retries_a_post_that_could_not_connect(
    live: LiveServer, admin: Admin, nginx_front: Callable[[str], Nginx]
) -> None:
    closed = free_port()  # nothing listens there: connection refused, nothing was sent
    front = nginx_front(f"127.0.0.1:{closed}; server 127.0.0.1:{live.port} backup")
    _, device, token = admin.user_with_device()
    code, _, body = call(front.port, {"AccessToken": token, "DeviceKey": device})
    assert code == 200, body
    (line,) = front.access_log(1)
    assert line["upstream_addr"] == f"127.0.0.1:{closed}, 127.0.0.1:{live.port}"
