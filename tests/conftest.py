"""Shared fixtures: one real redis-server per session, a live service over real HTTP, admin helpers.

- `redis_url`: a real redis-server (the same binary the embedded mode finds), on a free port.
- every test starts from a flushed database holding only the default pool.
- `live` : the real app (uvloop + aiohttp) serving on 127.0.0.1 in a background thread;
  `live_factory(**overrides)` starts one with other settings.
- `admin`: synchronous helpers (create users, devices, tokens) that go through service.store.
- `cognito`: a boto3 client pointed at `live`, with retries off.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import orjson
import pytest
import redis
import redis.asyncio as aioredis
import redis.cluster
import uvloop
from aiohttp import web

from service import store
from service.cli import mint_token
from service.http.app import create_app
from service.http.httpserver import make_runner
from service.redis_io import cluster, connect, keys
from service.redis_io.embedded import find_redis_server
from service.runtime.settings import Settings
from tests import noskip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server process on loopback; can be stopped and started again."""

    def __init__(self, port: int | None = None, *extra: str) -> None:
        self.binary = find_redis_server()
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="cgd-redis-")
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.dir,
            "--save",
            "",
            "--appendonly",
            "no",
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    code = self.proc.poll()
                    if code is not None:
                        raise RuntimeError(
                            f"redis-server exited ({code}) before serving port {self.port}"
                        ) from None
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        except BaseException:
            # Not left running for a later test to trip over (a ResourceWarning there).
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
            raise
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    noskip.register(config)  # with CI=true, a run in which a test skipped fails


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a module on several Redis backends when it says `BACKENDS = ("single", "cluster")`.
    Every other module runs on a single redis-server."""
    if "backend" in metafunc.fixturenames:
        backends = getattr(metafunc.module, "BACKENDS", ("single",))
        metafunc.parametrize("backend", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Any]:
    """A real Redis Cluster (3 primaries, 3 replicas), started once, on first use."""
    from tests.redis_cluster import RedisCluster

    cluster = RedisCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "cluster":
        return str(request.getfixturevalue("redis_cluster").url)
    return str(request.getfixturevalue("redis_server").url)


def make_settings(redis_url: str, **overrides: Any) -> Settings:
    base = Settings.from_env(
        {},
        redis_url=redis_url,
        data_dir=tempfile.mkdtemp(prefix="cgd-data-"),
        pool_refresh_s=0.05,
        redis_timeout_s=1.0,
        # What boto_client() signs admin calls with.
        admin_credentials={"test": "test"},
    )
    return replace(base, **overrides)


@pytest.fixture(scope="session")
def settings(redis_url: str) -> Settings:
    return make_settings(redis_url)


class LiveServer:
    """The real app on a real socket (settings.host, port 0), in a thread with its own uvloop
    event loop. Clients reach it at 127.0.0.1 either way."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        loop = uvloop.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
        finally:
            # Let anything still pending (a client library's background task) finish, so the
            # loop closes with no live handles.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            # A few more turns: closing sockets finish closing only on a later iteration.
            loop.run_until_complete(asyncio.sleep(0.05))
            loop.close()

    async def _serve(self) -> None:
        self.app = create_app(self.settings)
        runner = make_runner(self.app, access_log=None, shutdown_timeout=2)
        await runner.setup()
        host = self.settings.host
        if ":" in host:
            # As service/http/worker.py binds an IPv6 host: dual-stack (Linux's default), so IPv4
            # clients arrive as ::ffff:a.b.c.d.
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((host, 0))
            site: web.BaseSite = web.SockSite(runner, sock)
        else:
            site = web.TCPSite(runner, host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def start(self) -> LiveServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


def sync_client(url: str) -> Any:
    """redis-py's synchronous client for a single-node or cluster URL."""
    if cluster.is_cluster(url):
        c = cluster.parse_cluster_url(url)
        nodes = [redis.cluster.ClusterNode(h, p) for h, p in c.nodes]
        return redis.RedisCluster(
            startup_nodes=nodes, password=c.password, ssl=c.tls, **c.tls_options()
        )
    return redis.Redis.from_url(url)


def run(coro_fn: Callable[[aioredis.Redis], Any], url: str) -> Any:
    """Run `coro_fn(redis)` to completion on a fresh loop (for synchronous tests)."""

    async def main() -> Any:
        r = connect.admin_client(url, 5)
        try:
            return await coro_fn(r)
        finally:
            await r.aclose()

    return asyncio.run(main())


class Admin:
    """Synchronous admin helpers for tests; everything goes through service.store."""

    def __init__(self, settings: Settings, live: LiveServer | None) -> None:
        self.settings = settings
        self.live = live
        self.url = settings.redis_url
        self.redis = sync_client(self.url)

    def run(self, coro_fn: Callable[[aioredis.Redis], Any]) -> Any:
        return run(coro_fn, self.url)

    def create_user(self, username: str, pool_id: str | None = None, **kw: Any) -> store.User:
        pool = pool_id or self.settings.default_pool_id
        return self.run(lambda r: store.create_user(r, pool, username, **kw))  # type: ignore[no-any-return]

    def add_device(self, user: store.User, **kw: Any) -> str:
        fields = self.run(lambda r: store.add_device(r, user, **kw))
        return str(fields["key"])

    def token(self, username: str, pool_id: str | None = None, **kw: Any) -> str:
        pool = pool_id or self.settings.default_pool_id
        return self.run(lambda r: mint_token(r, self.settings, pool, username, **kw))  # type: ignore[no-any-return]

    def user_with_device(self, username: str = "alice", **kw: Any) -> tuple[store.User, str, str]:
        """A confirmed user, one device, and a fresh access token."""
        user = self.create_user(username, **kw)
        device = self.add_device(user, name=f"{username}-phone")
        return user, device, self.token(username, pool_id=kw.get("pool_id"))

    def wait_pools(self, live: LiveServer | None = None, timeout_s: float = 5.0) -> None:
        """Block until the live server has loaded the pools currently in Redis."""
        import urllib.request

        target = live or self.live
        assert target is not None
        want = self.redis.get(keys.POOLS_VERSION)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{target.url}/readyz", timeout=2) as resp,
            ):
                if orjson.loads(resp.read()).get("pools_version") == (
                    want.decode() if want else None
                ):
                    return
            time.sleep(0.02)
        raise AssertionError("live server did not load the pools in time")


@pytest.fixture(scope="session")
def live_session(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings).start()
    yield server
    server.stop()


@pytest.fixture
def clean_redis(settings: Settings) -> None:
    """A flushed database with only the default pool."""
    flush(settings)


def flush(settings: Settings) -> None:
    """Empty a single-node or cluster Redis, then create the default pool again."""
    client = sync_client(settings.redis_url)
    if cluster.is_cluster(settings.redis_url):
        client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    else:
        client.flushall()
    client.close()
    run(lambda r: store.ensure_default_pool(r, settings), settings.redis_url)


@pytest.fixture
def live(live_session: LiveServer, clean_redis: None, settings: Settings) -> LiveServer:
    Admin(settings, live_session).wait_pools()
    return live_session


@pytest.fixture
def admin(settings: Settings, live: LiveServer) -> Iterator[Admin]:
    helper = Admin(settings, live)
    yield helper
    helper.redis.close()


@pytest.fixture
def live_factory(
    redis_url: str, clean_redis: None
) -> Iterator[Callable[..., tuple[LiveServer, Admin]]]:
    """Start a live server with settings overrides; returns (server, admin for it)."""
    started: list[tuple[LiveServer, Admin]] = []

    def make(**overrides: Any) -> tuple[LiveServer, Admin]:
        server = LiveServer(make_settings(redis_url, **overrides)).start()
        helper = Admin(server.settings, server)
        helper.wait_pools()
        started.append((server, helper))
        return server, helper

    yield make
    for server, helper in started:
        server.stop()
        helper.redis.close()


def boto_client(url: str) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def cognito(live: LiveServer) -> Any:
    return boto_client(live.url)


def client_error(exc_info: pytest.ExceptionInfo[Any]) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a botocore ClientError."""
    response = exc_info.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


PROJECT = Path(__file__).resolve().parent.parent
