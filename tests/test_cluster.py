"""The service on a real Redis Cluster (3 primaries, 3 replicas): one command per warm request,
correct answers while a slot moves, and recovery from a primary's failover."""

from __future__ import annotations

import concurrent.futures
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis
from redis.crc import key_slot

from service.redis_io import connect, keys, lua
from service.redis_io.cluster import ClusterPipe
from service.redis_io.transport import RedisPipe
from service.runtime.settings import Settings
from tests.conftest import Admin, LiveServer, RedisServer, boto_client, flush, make_settings
from tests.redis_cluster import RedisCluster

TARGET = "AWSCognitoIdentityProviderService.GetDevice"
FAST_BUCKET = {"user_rate_per_s": 1_000_000.0, "user_burst": 1_000_000}


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    c = RedisCluster().start()
    yield c
    c.stop()


def start_live(url: str, **overrides: Any) -> tuple[LiveServer, Admin, Settings]:
    settings = make_settings(url, **overrides)
    flush(settings)
    server = LiveServer(settings).start()
    helper = Admin(settings, server)
    helper.wait_pools()
    return server, helper, settings


@pytest.fixture
def on_cluster(cluster: RedisCluster) -> Iterator[tuple[LiveServer, Admin]]:
    server, helper, _ = start_live(cluster.url, **FAST_BUCKET)
    yield server, helper
    server.stop()
    helper.redis.close()


def get_device(port: int, token: str, device: str) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = orjson.dumps({"AccessToken": token, "DeviceKey": device})
        conn.request("POST", "/", body, {"X-Amz-Target": TARGET})
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


def evalsha_calls(cluster: RedisCluster) -> int:
    total = 0
    for server in cluster.nodes:
        if server.proc is None:
            continue
        with cluster.client(server) as c:
            stats = c.info("commandstats")
            total += int(stats.get("cmdstat_evalsha", {}).get("calls", 0))
    return total


def test_boto3_get_device_on_cluster(on_cluster: tuple[LiveServer, Admin]) -> None:
    server, helper = on_cluster
    _, device, token = helper.user_with_device("carol")
    client = boto_client(server.url)
    assert client.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device


def test_one_command_per_warm_request_on_cluster(
    on_cluster: tuple[LiveServer, Admin], cluster: RedisCluster
) -> None:
    server, helper = on_cluster
    users = [helper.user_with_device(f"u{i}") for i in range(8)]
    for _, device, token in users:  # cold: verify and cache
        assert get_device(server.port, token, device)[0] == 200
    before = evalsha_calls(cluster)
    n = 0
    for _ in range(5):
        for _, device, token in users:
            assert get_device(server.port, token, device)[0] == 200
            n += 1
    assert evalsha_calls(cluster) - before == n


def _migrate_slot(cluster: RedisCluster, slot: int, pause_s: float) -> tuple[int, int]:
    source = cluster.owner(slot)
    target = next(p for p in cluster.primaries if p is not source and p.proc is not None)
    src_id, dst_id = cluster.node_id(source), cluster.node_id(target)
    with cluster.client(source) as src, cluster.client(target) as dst:
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        while True:
            batch = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1)
            if not batch:
                break
            # One key at a time, slowly: requests see ASK and TRYAGAIN for a while.
            src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *batch)
            time.sleep(pause_s)
        # As redis-cli --cluster does: the target first, then the source, then the rest.
        others = [p for p in cluster.primaries if p not in (source, target) and p.proc]
        for server in [target, source, *others]:
            with cluster.client(server) as c:
                c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    return source.port, target.port


def test_resharding_under_load(on_cluster: tuple[LiveServer, Admin], cluster: RedisCluster) -> None:
    server, helper = on_cluster
    user, device, token = helper.user_with_device("mover")
    _, other_device, other_token = helper.user_with_device("stayer")
    slot = key_slot(user.keys.base.encode())
    stop = threading.Event()
    answers: list[tuple[str, int, dict[str, Any]]] = []

    def load(name: str, tok: str, dev: str) -> None:
        while not stop.is_set():
            status, body = get_device(server.port, tok, dev)
            answers.append((dev, status, body))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(load, "mover", token, device),
            pool.submit(load, "mover", token, device),
            pool.submit(load, "stayer", other_token, other_device),
        ]
        time.sleep(0.3)
        source, target = _migrate_slot(cluster, slot, pause_s=0.02)
        time.sleep(0.3)
        stop.set()
        for f in futures:
            f.result()
    assert source != target and cluster.owner(slot).port == target
    assert len(answers) > 50
    wrong = [(s, b) for dev, s, b in answers if s != 200 or b["Device"]["DeviceKey"] != dev]
    assert wrong == []


def test_failover_recovers_without_restart() -> None:
    """Kill the primary that holds a user's slot; its replica takes over; so does the service."""
    own = RedisCluster().start()
    try:
        server, helper, _ = start_live(own.url, redis_timeout_s=0.5, **FAST_BUCKET)
        user, device, token = helper.user_with_device("failover")
        assert get_device(server.port, token, device)[0] == 200
        victim = own.owner(key_slot(user.keys.base.encode()))
        answers: list[tuple[float, int, str]] = []
        assert victim.proc is not None
        victim.proc.kill()
        victim.proc.wait()
        victim.proc = None
        killed = time.monotonic()
        recovered_at = None
        while time.monotonic() - killed < 30:
            status, body = get_device(server.port, token, device)
            answers.append((time.monotonic() - killed, status, body.get("__type", "OK")))
            if status == 200:
                assert body["Device"]["DeviceKey"] == device
                recovered_at = time.monotonic() - killed
                break
            time.sleep(0.02)
        assert recovered_at is not None, "service did not recover after the failover"
        failures = {t for _, s, t in answers if s != 200}
        assert failures <= {"InternalErrorException"}
        print(f"failover: InternalErrorException for {recovered_at:.2f}s, {len(answers)} probes")
        # Still correct afterwards, on the promoted replica.
        for _ in range(20):
            status, body = get_device(server.port, token, device)
            assert status == 200 and body["Device"]["DeviceKey"] == device
        server.stop()
        helper.redis.close()
    finally:
        own.stop()


def test_cluster_flush_leaves_default_pool(cluster: RedisCluster) -> None:
    settings = make_settings(cluster.url)
    flush(settings)
    client = redis.RedisCluster(host="127.0.0.1", port=cluster.primaries[0].port)
    assert client.exists(keys.pool(settings.default_pool_id)) == 1
    client.close()


def test_hot_pipe_is_chosen_by_scheme() -> None:
    settings = Settings.from_env({})
    assert isinstance(connect.hot_pipe("redis+cluster://127.0.0.1:7000", settings), ClusterPipe)
    assert isinstance(connect.hot_pipe("rediss+cluster://127.0.0.1:7000", settings), ClusterPipe)
    assert isinstance(connect.hot_pipe("redis://127.0.0.1:6379/0", settings), RedisPipe)
    assert isinstance(connect.hot_pipe("unix:///tmp/redis.sock", settings), RedisPipe)


async def test_moved_is_followed_and_remembered(cluster: RedisCluster) -> None:
    """A stale slot table: MOVED (a typed reply) sends the script to the owner, which the
    table then names."""
    pipe = connect.hot_pipe(cluster.url, Settings.from_env({}))
    assert isinstance(pipe, ClusterPipe)
    await pipe.start()
    await pipe.execute("SCRIPT", "FLUSH")  # and each node loads the script on NOSCRIPT
    key = "{moved}:bucket"
    slot = key_slot(key.encode())
    owner = pipe._slots[slot]
    pipe._slots[slot] = next(n for n in pipe.primaries() if n != owner)
    assert await pipe.evalsha(lua.TAKE_TOKEN, [key], [1, 5]) == 1
    assert pipe._slots[slot] == owner
    await pipe.close()


def test_a_node_that_cannot_bind_fails_fast_and_leaves_nothing_running() -> None:
    # What the cluster fixture relies on: a node whose port was taken says so at once (not
    # after the 10 s wait), and its process is not left for a later test to trip over.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        server = RedisServer(taken.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="exited"):
            server.start()
        assert time.monotonic() - started < 5
        assert server.proc is None
