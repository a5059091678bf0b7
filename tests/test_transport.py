"""The hot-path Redis transport, against real redis-server processes: order, cancellation,
timeouts, restarts, lost scripts and load shedding."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import pytest
import redis

from service.redis_io import lua
from service.redis_io.redis_errors import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    RedirectError,
    RedisReplyError,
    TryAgainError,
    reply_error,
)
from service.redis_io.transport import RedisOverloaded, RedisPipe, RedisUnavailable
from tests.conftest import RedisServer
from tests.timing import LATE_S


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    """A private redis-server this test may pause, stop and restart."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


async def test_replies_match_commands_in_order(redis_url: str) -> None:
    pipe = RedisPipe(redis_url, 2.0, 10000)
    await pipe.execute("DEL", "order")
    results = await asyncio.gather(*(pipe.execute("INCR", "order") for _ in range(2000)))
    assert results == list(range(1, 2001))
    await pipe.close()


async def test_cancelled_waiters_never_leak_replies(redis_url: str) -> None:
    """A storm of cancellations: every completed call still gets its own reply."""
    admin = redis.Redis.from_url(redis_url)
    admin.mset({f"cancel:{i}": f"value-{i}" for i in range(500)})
    pipe = RedisPipe(redis_url, 2.0, 10000)
    rng = random.Random(7)
    for _round in range(10):
        tasks = [asyncio.create_task(pipe.execute("GET", f"cancel:{i}")) for i in range(500)]
        await asyncio.sleep(0)  # the commands are now written
        victims = rng.sample(range(500), 250)
        for i in victims:
            tasks[i].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        completed = 0
        for i, result in enumerate(done):
            if isinstance(result, asyncio.CancelledError):
                continue
            assert result == f"value-{i}".encode()
            completed += 1
        assert completed >= 250
    # And the stream is still in step afterwards.
    assert await pipe.execute("GET", "cancel:42") == b"value-42"
    await pipe.close()
    admin.close()


async def test_timeout_closes_the_connection_and_late_replies_are_dropped(
    own_redis: RedisServer,
) -> None:
    admin = redis.Redis.from_url(own_redis.url)
    admin.set("a", "A")
    admin.set("b", "B")
    timeout_s = 0.3
    pause_s = timeout_s + LATE_S + 1  # without the timeout the call would outlast the bound
    pipe = RedisPipe(own_redis.url, timeout_s, 1000)
    assert await pipe.execute("GET", "a") == b"A"
    admin.execute_command("CLIENT", "PAUSE", int(pause_s * 1000))
    started = time.monotonic()
    with pytest.raises(RedisUnavailable):
        await pipe.execute("GET", "a")
    assert time.monotonic() - started < timeout_s + LATE_S  # the timeout's, not the pause's
    await asyncio.sleep(max(0.0, started + pause_s + 0.2 - time.monotonic()))
    # The late reply to GET a went down with the old connection: b gets b.
    assert await pipe.execute("GET", "b") == b"B"
    await pipe.close()
    admin.close()


async def test_redis_down_fails_fast_and_recovers(own_redis: RedisServer) -> None:
    timeout_s = 0.5
    pipe = RedisPipe(own_redis.url, timeout_s, 1000)
    assert await pipe.execute("PING") == b"PONG"
    own_redis.stop()
    for _ in range(20):
        started = time.monotonic()
        with pytest.raises(RedisUnavailable):
            await pipe.execute("PING")
        assert time.monotonic() - started < timeout_s + LATE_S
    own_redis.start()
    deadline = time.monotonic() + 5
    while True:
        try:
            assert await pipe.execute("PING") == b"PONG"
            break
        except RedisUnavailable:
            assert time.monotonic() < deadline, "did not reconnect after Redis came back"
            await asyncio.sleep(0.05)
    await pipe.close()


async def test_lost_scripts_are_reloaded(redis_url: str) -> None:
    pipe = RedisPipe(redis_url, 2.0, 1000)
    await pipe.execute("SCRIPT", "FLUSH")
    assert await pipe.evalsha(lua.TAKE_TOKEN, ["bucket:noscript"], [1, 5]) == 1
    assert await pipe.execute("SCRIPT", "EXISTS", lua.TAKE_TOKEN.sha) == [1]
    await pipe.close()


async def test_overload_is_shed_not_queued(own_redis: RedisServer) -> None:
    admin = redis.Redis.from_url(own_redis.url)
    pipe = RedisPipe(own_redis.url, 2.0, 10)
    await pipe.execute("PING")
    admin.execute_command("CLIENT", "PAUSE", 500)
    waiting = [asyncio.create_task(pipe.execute("PING")) for _ in range(10)]
    await asyncio.sleep(0)
    with pytest.raises(RedisOverloaded):
        await pipe.execute("PING")
    assert await asyncio.gather(*waiting) == [b"PONG"] * 10
    await pipe.close()
    admin.close()


@pytest.mark.parametrize(
    ("reply", "kind", "where"),
    [
        ("MOVED 3999 127.0.0.1:6381", MovedError, (3999, "127.0.0.1", 6381)),
        ("ASK 12 ::1:7000", AskError, (12, "::1", 7000)),
        ("MOVED 7 :6380", MovedError, (7, "", 6380)),  # a node that does not know its address
        ("NOSCRIPT No matching script. Please use EVAL.", NoScriptError, None),
        ("TRYAGAIN Multiple keys request during rehashing of slot", TryAgainError, None),
        ("CLUSTERDOWN The cluster is down", ClusterDownError, None),
        ("ERR unknown command 'NOPE'", RedisReplyError, None),
        ("MOVED garbage", RedisReplyError, None),  # unreadable: left as Redis wrote it
    ],
)
def test_error_replies_are_typed_once(
    reply: str, kind: type[RedisReplyError], where: tuple[int, str, int] | None
) -> None:
    typed = reply_error(RedisReplyError(reply))
    assert type(typed) is kind
    assert str(typed) == reply
    if where is not None:
        assert isinstance(typed, RedirectError)
        assert (typed.slot, typed.host, typed.port) == where


async def test_error_replies_reach_their_waiter_typed(redis_url: str) -> None:
    pipe = RedisPipe(redis_url, 2.0, 1000)
    missing: object
    other: object
    after: object
    missing, other, after = await asyncio.gather(
        pipe.execute("EVALSHA", "0" * 40, 0),
        pipe.execute("NOSUCHCOMMAND"),
        pipe.execute("PING"),
        return_exceptions=True,
    )
    assert isinstance(missing, NoScriptError)
    assert type(other) is RedisReplyError and str(other).startswith("ERR ")
    assert after == b"PONG"  # still in step
    await pipe.close()


async def test_a_script_reloads_itself_through_any_send(redis_url: str) -> None:
    pipe = RedisPipe(redis_url, 2.0, 1000)
    sent: list[object] = []

    async def send(*args: str | bytes | int | float) -> object:
        sent.append(args[0])
        return await pipe.execute(*args)

    await pipe.execute("SCRIPT", "FLUSH")
    assert await lua.TAKE_TOKEN.run(send, ["bucket:run"], [1, 5]) == 1
    assert sent == ["EVALSHA", "SCRIPT", "EVALSHA"]
    sent.clear()
    assert await lua.TAKE_TOKEN.run(send, ["bucket:run"], [1, 5]) == 1
    assert sent == ["EVALSHA"]
    # After an ASK, on a node importing the slot: ASKING goes before each command (a server
    # without cluster support refuses the ASKING alone, which execute_asking ignores).
    await pipe.execute("SCRIPT", "FLUSH")
    assert await pipe.evalsha_asking(lua.TAKE_TOKEN, ["bucket:asking"], [1, 5]) == 1
    await pipe.close()
