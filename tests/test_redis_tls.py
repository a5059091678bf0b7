"""TLS to Redis as production runs it: a private CA, client certificates required or not, the
same `rediss://` options as redis-py on the hot path and the admin client, single node and cluster
(real redis-server processes, tests/redis_tls.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from service.http.crashloop import EXIT_CRASH_LOOP
from service.redis_io import cluster, connect
from service.redis_io.transport import RedisPipe, RedisUnavailable
from tests.conftest import PROJECT, Admin, LiveServer, boto_client, free_port, make_settings
from tests.redis_cluster import cluster_port
from tests.redis_tls import Certs, TLSRedis


@pytest.fixture(scope="module")
def certs() -> Certs:
    return Certs.make(Path(tempfile.mkdtemp(prefix="cgd-tls-")))


@pytest.fixture(scope="module")
def tls_redis(certs: Certs) -> Iterator[TLSRedis]:
    """TLS with a private CA; client certificates not asked for."""
    server = TLSRedis(certs, auth_clients=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls_redis(certs: Certs) -> Iterator[TLSRedis]:
    """TLS with a private CA; a client certificate signed by it required (tls-auth-clients)."""
    server = TLSRedis(certs, auth_clients=True)
    server.start()
    yield server
    server.stop()


async def _ping(url: str, timeout_s: float = 2.0) -> Any:
    pipe = RedisPipe(url, timeout_s, 100)
    try:
        return await pipe.execute("PING")
    finally:
        await pipe.close()


async def _admin_ping(url: str) -> Any:
    r = connect.admin_client(url, 2.0)
    try:
        return await r.ping()
    finally:
        await r.aclose()


async def test_hot_pipe_trusts_the_urls_private_ca(tls_redis: TLSRedis) -> None:
    # Before: a bare default context, so CERTIFICATE_VERIFY_FAILED with the admin client fine.
    assert await _ping(tls_redis.tls_url()) == b"PONG"


async def test_hot_pipe_gives_the_urls_client_certificate(mtls_redis: TLSRedis) -> None:
    assert await _ping(mtls_redis.tls_url(client_cert=True)) == b"PONG"


@pytest.mark.parametrize(
    ("query", "works"),
    [
        ({}, True),  # the CA named
        ({"ssl_ca_certs": ""}, False),  # the system's CAs only: not ours
        ({"ssl_ca_certs": "", "ssl_cert_reqs": "none"}, True),  # verification off, as asked
        ({"ssl_cert_reqs": "required", "ssl_check_hostname": "true"}, True),  # 127.0.0.1 in SAN
        ({"ssl_min_version": "772"}, True),  # ssl.TLSVersion.TLSv1_3
    ],
)
async def test_hot_pipe_takes_the_same_options_as_redis_py(
    tls_redis: TLSRedis, query: dict[str, str], works: bool
) -> None:
    """Whatever a URL makes redis-py (the admin client) do, the hot pipe does too."""
    url = tls_redis.tls_url(query=query)
    if works:
        assert await _admin_ping(url) is True
        assert await _ping(url) == b"PONG"
    else:
        with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await _admin_ping(url)
        with pytest.raises(RedisUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await _ping(url)


async def test_hot_pipe_names_the_host_it_checks(tls_redis: TLSRedis) -> None:
    """`localhost` is in the server's certificate too: the name the URL gives is the one checked."""
    assert await _ping(tls_redis.tls_url("localhost")) == b"PONG"


def test_a_bad_tls_option_is_refused_when_the_pipe_is_made(tls_redis: TLSRedis) -> None:
    with pytest.raises(ValueError, match="TLS option"):
        RedisPipe(tls_redis.tls_url(query={"ssl_cert_reqs": "sometimes"}), 1.0, 10)
    with pytest.raises(FileNotFoundError):
        RedisPipe(tls_redis.tls_url(query={"ssl_ca_certs": "/nonexistent/ca.pem"}), 1.0, 10)


@pytest.mark.timeout(30)
async def test_a_refused_client_certificate_fails_every_call_within_the_timeout(
    mtls_redis: TLSRedis,
) -> None:
    """No client certificate: the server completes the handshake, then hangs up. Every call
    fails within REDIS_TIMEOUT_S, the second as the first (it hung forever: the call waited on a
    connection already closed, that the sweeper no longer watched)."""
    pipe = RedisPipe(mtls_redis.tls_url(), 2.0, 100)
    try:
        for _ in range(5):
            started = time.monotonic()
            with pytest.raises(RedisUnavailable):
                await asyncio.wait_for(pipe.execute("PING"), 10)
            assert time.monotonic() - started < 2.5
            await asyncio.sleep(0.15)  # past the fail-fast window: a real connect each time
    finally:
        await pipe.close()


@pytest.fixture(scope="module")
def mtls_cluster(certs: Certs) -> Iterator[TLSRedis]:
    """A one-node Redis Cluster on mutual TLS (the cluster bus too): every slot on that node."""
    server = TLSRedis(
        certs,
        True,
        "--cluster-enabled",
        "yes",
        "--tls-cluster",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        # With tls-cluster the bus listens on the TLS port + 10000: both must be free.
        tls_port=cluster_port(),
    )
    server.start()
    plain = redis.Redis.from_url(server.url)
    plain.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    deadline = time.monotonic() + 10
    while plain.cluster("info")["cluster_state"] != "ok":
        assert time.monotonic() < deadline, "the one-node cluster did not come up"
        time.sleep(0.02)
    plain.close()
    yield server
    server.stop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("topology", ["single", "cluster"])
def test_the_service_runs_on_mutual_tls(topology: str, request: pytest.FixtureRequest) -> None:
    """The whole service (admin client, hot pipe; on a cluster, every node's pipe) on a Redis
    that requires client certificates signed by a private CA: it starts, is ready, and answers
    GetDevice."""
    server_fixture = "mtls_redis" if topology == "single" else "mtls_cluster"
    tls: TLSRedis = request.getfixturevalue(server_fixture)
    url = tls.tls_url(client_cert=True)
    if topology == "cluster":
        url = url.replace("rediss://", "rediss+cluster://")
    settings = make_settings(url)
    with redis.Redis.from_url(tls.url) as plain:
        plain.flushall()
    server = LiveServer(settings).start()
    admin = Admin(settings, server)
    try:
        admin.wait_pools()
        _user, device, token = admin.user_with_device("tls-user")
        answer = boto_client(server.url).get_device(AccessToken=token, DeviceKey=device)
        assert answer["Device"]["DeviceKey"] == device
    finally:
        server.stop()
        admin.redis.close()


def test_cluster_node_urls_keep_the_tls_options(certs: Certs) -> None:
    url = (
        f"rediss+cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2:7001"
        f"?ssl_ca_certs={certs.ca}&ssl_certfile={certs.client_cert}"
        f"&ssl_keyfile={certs.client_key}&ssl_check_hostname=false"
    )
    parsed = cluster.parse_cluster_url(url)
    assert parsed.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert parsed.password == "p@ss"
    node = parsed.node_url("10.0.0.3", 7002)
    assert node.startswith("rediss://app:p%40ss@10.0.0.3:7002/0?")
    pipe = RedisPipe(node, 1.0, 10)
    ctx = pipe._ssl
    assert ctx is not None
    assert ctx.check_hostname is False
    assert ((("commonName", "cgd test CA"),),) in [c["subject"] for c in ctx.get_ca_certs()]
    # The admin client (redis-py's RedisCluster) gets the same options.
    admin = connect.admin_client(url, 1.0)
    try:
        kwargs = admin.connection_kwargs
        assert kwargs["ssl_ca_certs"] == str(certs.ca)
        assert kwargs["ssl_certfile"] == str(certs.client_cert)
        assert kwargs["ssl_keyfile"] == str(certs.client_key)
        assert kwargs["ssl_check_hostname"] is False
    finally:
        asyncio.run(admin.aclose())


@pytest.mark.timeout(60)
def test_serve_gives_up_on_a_refused_client_certificate_and_says_why(
    mtls_redis: TLSRedis,
) -> None:
    """The issue's run: `serve` against a Redis requiring client certificates, given none. Every
    start fails within REDIS_TIMEOUT_S and the crash-loop policy ends it with its reason (before:
    the second start hung for good, and only SIGKILL stopped it)."""
    env = {
        **os.environ,
        "REDIS_URL": mtls_redis.tls_url(),
        "REDIS_TIMEOUT_S": "2",
        "CRASH_LOOP_LIMIT": "3",
        "DATA_DIR": tempfile.mkdtemp(prefix="cgd-serve-"),
        "ADMIN_CREDENTIALS": "AKIDTLS:tls-secret",
        "DEMO": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--port", str(free_port()), "--workers", "1"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert done.returncode == EXIT_CRASH_LOOP, done.stderr[-2000:]
    assert "giving up" in done.stderr
