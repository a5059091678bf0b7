"""Eviction and lost data (service/redis_io/eviction.py, /readyz): a Redis that may evict the
service's data is refused, one that evicts only expiring keys is accepted because only disposable
keys expire, and readiness notices when the data is gone. Real redis-server processes."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

import orjson
import pytest
import redis

from service.redis_io import keys
from service.redis_io.eviction import EvictionPolicyError
from tests.conftest import LiveServer, RedisServer, make_settings
from tests.test_redis_acl import acl_url, exercise, start


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer(None, "--maxmemory", "256mb")
    server.start()
    yield server
    server.stop()


def readyz(server: LiveServer) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{server.url}/readyz", timeout=5) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:  # closes its socket
            return exc.code, orjson.loads(exc.read())


def refusal(url: str) -> str:
    """Why a service on `url` would not start (a test failure if it does start)."""
    try:
        server = LiveServer(make_settings(url)).start()
    except EvictionPolicyError as exc:
        return str(exc)
    server.stop()
    pytest.fail("the service started")


def set_policy(server: RedisServer, policy: str) -> None:
    with redis.Redis.from_url(server.url) as root:
        root.config_set("maxmemory-policy", policy)


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_a_redis_that_may_evict_any_key_is_refused_at_start(
    own_redis: RedisServer, policy: str
) -> None:
    set_policy(own_redis, policy)
    reason = refusal(own_redis.url)
    assert f"maxmemory-policy is {policy}" in reason and "noeviction" in reason
    with redis.Redis.from_url(own_redis.url) as root:
        assert root.dbsize() == 0  # refused before writing anything


def test_readiness_fails_while_the_policy_is_allkeys(own_redis: RedisServer) -> None:
    server = LiveServer(make_settings(own_redis.url)).start()
    try:
        assert readyz(server)[0] == 200
        set_policy(own_redis, "allkeys-lru")
        status, body = readyz(server)
        assert status == 503 and "allkeys-lru" in str(body["redis"])
        set_policy(own_redis, "noeviction")
        assert readyz(server)[0] == 200
    finally:
        server.stop()


def test_readiness_fails_when_the_pools_record_is_gone(own_redis: RedisServer) -> None:
    server = LiveServer(make_settings(own_redis.url)).start()
    try:
        assert readyz(server)[0] == 200
        with redis.Redis.from_url(own_redis.url) as root:
            root.flushall()  # as allkeys-lru under pressure did: every cgd:* key gone
        status, body = readyz(server)
        assert status == 503 and keys.POOLS_VERSION in str(body["redis"])
    finally:
        server.stop()


def test_volatile_policies_are_accepted(own_redis: RedisServer) -> None:
    set_policy(own_redis, "volatile-lru")
    server = LiveServer(make_settings(own_redis.url)).start()
    try:
        assert readyz(server)[0] == 200
    finally:
        server.stop()


def test_the_policy_is_read_from_info_when_config_is_refused(own_redis: RedisServer) -> None:
    """Managed Redis blocks CONFIG: INFO memory still tells the policy, and allkeys is refused."""
    set_policy(own_redis, "allkeys-lru")
    url = acl_url(own_redis, ["on", "~cgd:*", "+@all", "-config"])
    assert "allkeys-lru" in refusal(url)


def test_when_the_policy_cannot_be_read_the_service_warns_once_and_runs(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = acl_url(own_redis, ["on", "~cgd:*", "+@all", "-config", "-info"])
    caplog.set_level(logging.INFO, logger="service.eviction")
    server = LiveServer(make_settings(url)).start()
    try:
        for _ in range(3):
            assert readyz(server)[0] == 200
    finally:
        server.stop()
    warnings = [
        r for r in caplog.records if r.name == "service.eviction" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1 and "cannot check maxmemory-policy" in warnings[0].getMessage()


# The keys that may carry a TTL, and so be evicted under volatile-*: each one's loss costs a
# retry, never data (docs/redis.md). A new key with a TTL must be added here and there, with why.
DISPOSABLE = (
    ":c:",  # cached claims of an access token
    ":auth:",  # a sign-in session
    "cgd:bucket:",  # a pool-wide quota bucket
)


@pytest.mark.timeout(90)
def test_only_disposable_keys_carry_a_ttl(own_redis: RedisServer) -> None:
    seen: dict[str, int] = {}

    def look() -> None:
        with redis.Redis.from_url(own_redis.url) as root:
            for key in root.scan_iter(match="cgd:*", count=1000):
                ttl = root.pttl(key)
                seen[key.decode()] = ttl

    server, root = start(own_redis.url, own_redis.url, pool_rate_limit=True)
    try:
        exercise(server, root, midway=look)
    finally:
        server.stop()
        root.redis.close()
    expiring = {k for k, ttl in seen.items() if ttl >= 0}
    # The run made each kind (else this test would prove nothing).
    for kind in DISPOSABLE:
        assert any(kind in k for k in expiring), f"no {kind} key was made"
    durable = {k for k in seen if k not in expiring}
    assert any(k.startswith(keys.POOL_RECORD_PREFIX) for k in durable)
    assert [k for k in expiring if not any(kind in k for kind in DISPOSABLE)] == []
