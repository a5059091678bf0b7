"""The per-user token bucket (get_device.lua) and the optional pool-wide one (take_token.lua):
exact under concurrency, across servers sharing one Redis, refilling with Redis time."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import aiohttp
import pytest

from service.redis_io import keys
from tests.conftest import Admin, LiveServer
from tests.helpers_tokens import AMZ_JSON, TARGET, get_device

THROTTLED = ("TooManyRequestsException", "Too many requests")
OK = ("OK", "")
POOL_ID = "us-east-1_LocalPool"
READS = "UserResourceRead"  # the category GetDevice counts in (service/model/quotas.py)


async def _one(
    session: aiohttp.ClientSession, url: str, token: str, device: str
) -> tuple[str, str]:
    body = json.dumps({"AccessToken": token, "DeviceKey": device})
    headers = {"X-Amz-Target": TARGET, "Content-Type": AMZ_JSON}
    async with session.post(url + "/", data=body, headers=headers) as resp:
        doc = json.loads(await resp.read())
        if resp.status == 200:
            assert doc["Device"]["DeviceKey"] == device
            return OK
        assert resp.status == 400, (resp.status, doc)
        return doc["__type"], doc["message"]


async def fire(calls: list[tuple[str, str, str]]) -> Counter[tuple[str, str]]:
    """Send every (url, token, device) call at once; count the outcomes."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(_one(session, *c) for c in calls))
    return Counter(results)


def _user(helper: Admin, name: str) -> tuple[Any, str, str]:
    return helper.user_with_device(name)


async def test_exactly_the_burst_is_admitted_under_concurrency(live_factory: Any) -> None:
    burst, n = 7, 50
    server, helper = live_factory(user_rate_per_s=0.001, user_burst=burst)
    alice, device, token = await asyncio.to_thread(_user, helper, "alice")
    _, bob_device, bob_token = await asyncio.to_thread(_user, helper, "bob")

    outcome = await fire([(server.url, token, device)] * n)

    assert outcome == Counter({OK: burst, THROTTLED: n - burst})
    # Throttled requests take nothing: the bucket is empty, not negative.
    tokens = float(helper.redis.hget(alice.keys.user, "bucket_tokens") or -1)
    assert 0 <= tokens < 1
    # Another user is unaffected: a full bucket of their own.
    assert await fire([(server.url, bob_token, bob_device)] * (burst + 3)) == Counter(
        {OK: burst, THROTTLED: 3}
    )


async def test_exact_across_two_servers_sharing_one_redis(live_factory: Any) -> None:
    burst, n = 7, 50
    first, helper = live_factory(user_rate_per_s=0.001, user_burst=burst)
    second, _ = live_factory(user_rate_per_s=0.001, user_burst=burst)
    _, device, token = await asyncio.to_thread(_user, helper, "carol")
    calls = [((first if i % 2 else second).url, token, device) for i in range(n)]
    assert await fire(calls) == Counter({OK: burst, THROTTLED: n - burst})


def test_the_bucket_refills_at_the_configured_rate(live_factory: Any) -> None:
    # 2 a second: emptying the bucket only needs requests faster than one per 0.5 s, which
    # any machine, however slow or busy, manages (at 10/s a busy one might not).
    server, helper = live_factory(user_rate_per_s=2.0, user_burst=2)
    user, device, token = helper.user_with_device("dave")
    for _ in range(50):
        answer = get_device(server.url, token, device)
        if answer.status != 200:
            break
    assert answer.error == (*THROTTLED, 400)
    # The bucket held less than one token; 0.75 s adds 1.5.
    time.sleep(0.75)
    assert get_device(server.url, token, device).status == 200
    # The bucket lives in the user's hash, read and written with the user's state.
    assert helper.redis.hget(user.keys.user, "bucket_ts_us") is not None


async def test_a_bucket_idle_for_longer_than_it_takes_to_fill_holds_exactly_the_burst(
    live_factory: Any,
) -> None:
    # Refilling never goes past the burst, however long the bucket sat idle. At 0.001 tokens a
    # second the batch itself refills nothing, and filling takes burst / rate = 3000 s: the bucket's
    # stamp is moved back 10,000 s instead of waiting (the script sees only the stamp and Redis's
    # TIME, so to it that is 10,000 s of idling: 10 tokens' worth, capped at 3).
    burst, rate = 3, 0.001
    server, helper = live_factory(user_rate_per_s=rate, user_burst=burst)
    alice, device, token = await asyncio.to_thread(_user, helper, "gus")
    assert await fire([(server.url, token, device)] * 10) == Counter(
        {OK: burst, THROTTLED: 10 - burst}
    )
    idle_us = 10_000 * 1_000_000
    assert idle_us > burst / rate * 1_000_000
    stamp = int(float(helper.redis.hget(alice.keys.user, "bucket_ts_us") or 0))
    helper.redis.hset(alice.keys.user, "bucket_ts_us", stamp - idle_us)
    assert await fire([(server.url, token, device)] * 10) == Counter(
        {OK: burst, THROTTLED: 10 - burst}
    )


def test_the_default_is_cognitos_per_user_quota(live: LiveServer, admin: Admin) -> None:
    assert (admin.settings.user_rate_per_s, admin.settings.user_burst) == (10.0, 10)
    assert admin.settings.pool_rate_limit is False
    assert (admin.settings.pool_rate_per_s, admin.settings.pool_burst) == (50.0, 50)


async def test_the_pool_wide_bucket_is_off_by_default(live_factory: Any) -> None:
    server, helper = live_factory(
        user_rate_per_s=0.001, user_burst=5, pool_burst=2, pool_rate_per_s=0.001
    )
    users = [await asyncio.to_thread(_user, helper, f"user{i}") for i in range(3)]
    calls = [(server.url, token, device) for _, device, token in users for _ in range(5)]
    assert await fire(calls) == Counter({OK: 15})
    assert not helper.redis.exists(keys.pool_bucket(POOL_ID, READS))


async def test_the_pool_wide_bucket_throttles_across_users(live_factory: Any) -> None:
    server, helper = live_factory(
        user_rate_per_s=0.001,
        user_burst=100,
        pool_rate_limit=True,
        pool_rate_per_s=0.001,
        pool_burst=5,
    )
    users = [await asyncio.to_thread(_user, helper, f"user{i}") for i in range(3)]
    calls = [(server.url, token, device) for _, device, token in users for _ in range(10)]
    assert await fire(calls) == Counter({OK: 5, THROTTLED: 25})
    assert helper.redis.exists(keys.pool_bucket(POOL_ID, READS))
    # A user who has not sent anything yet is throttled by the pool too.
    _, device, token = await asyncio.to_thread(_user, helper, "late")
    assert await fire([(server.url, token, device)]) == Counter({THROTTLED: 1})


async def test_redis_backlog_sheds_load_as_throttling(live_factory: Any) -> None:
    # With at most one command in flight to Redis, concurrent requests are shed as
    # TooManyRequestsException (retryable), never as a 500.
    server, helper = live_factory(redis_max_inflight=1, user_burst=1000)
    _, device, token = await asyncio.to_thread(_user, helper, "erin")
    # Warm: one script call per request from now on, so whoever finds Redis idle gets through.
    assert await fire([(server.url, token, device)]) == Counter({OK: 1})
    outcome = await fire([(server.url, token, device)] * 40)
    assert set(outcome) <= {OK, ("TooManyRequestsException", "Rate exceeded")}, outcome
    assert outcome[OK] >= 1


@pytest.mark.parametrize("burst", [1, 3])
async def test_small_bursts_are_exact(live_factory: Any, burst: int) -> None:
    server, helper = live_factory(user_rate_per_s=0.001, user_burst=burst)
    _, device, token = await asyncio.to_thread(_user, helper, "fay")
    assert await fire([(server.url, token, device)] * 20) == Counter(
        {OK: burst, THROTTLED: 20 - burst}
    )
