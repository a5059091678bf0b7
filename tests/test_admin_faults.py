"""Every admin write under Redis faults: it happens whole or not at all, and once the fault
clears the same write succeeds (no half-state blocks it).

Two faults, each on a dedicated redis-server:
- out of memory (`maxmemory` + `noeviction`, filled with junk until writes fail with OOM);
- killed mid-write (AOF with `appendfsync always`, so a restart has exactly what was
  acknowledged): SIGKILL at every point between the write's Redis commands, and while each
  command is in flight (the server stopped with SIGSTOP, the command sent, then SIGKILL).

"Whole or nothing" is judged on the whole database: before and after are dumped key by key,
and the difference must be empty or exactly the write's keys (service/redis_io/keys.py) with exactly
the write's contents.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ResponseError

from service import store
from service.redis_io import keys, lua
from service.runtime.settings import Settings
from tests.conftest import RedisServer, make_settings

POOL = "us-east-1_FaultPool"
USERNAME = "x:1}/faulty"  # the key encoding's awkward characters
DEVICE = "us-east-1_" + str(uuid.UUID(int=7))
OJTI = str(uuid.UUID(int=9))
ADMIN_SCRIPTS = (
    lua.CREATE_POOL, lua.UPDATE_POOL, lua.DELETE_POOL, lua.CREATE_USER, lua.UPDATE_USER,
    lua.DELETE_USER, lua.ADD_DEVICE, lua.REVOKE_ORIGIN,
)  # fmt: skip

Dump = dict[str, Any]


def dump(client: Any) -> Dump:
    """Every key with its whole value (test code only: KEYS on a tiny database)."""
    out: Dump = {}
    for raw in client.keys("*"):
        key = raw.decode()
        kind = client.type(raw).decode()
        if kind == "hash":
            out[key] = {k.decode(): v.decode() for k, v in client.hgetall(raw).items()}
        elif kind == "set":
            out[key] = {m.decode() for m in client.smembers(raw)}
        elif kind == "zset":
            out[key] = [(m.decode(), s) for m, s in client.zrange(raw, 0, -1, withscores=True)]
        elif kind == "string":
            out[key] = client.get(raw)
        else:
            raise AssertionError(f"unexpected type {kind} of {key}")
    return {k: v for k, v in out.items() if not k.startswith("junk:")}


def changed(before: Dump, after: Dump) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def user_keys(pool_id: str, gen: str, username: str) -> keys.UserKeys:
    return keys.UserKeys(pool_id, gen, username)


@dataclass
class Case:
    """One admin write: how to set up before it, run it, and judge the state after it."""

    name: str
    write: Callable[[aioredis.Redis, Settings, dict[str, Any]], Awaitable[Any]]
    whole: Callable[[Dump, Dump, dict[str, Any]], None]  # asserts `after` is the write, whole
    setup: list[str] = field(default_factory=list)  # steps of `prepare`
    under_oom: str = "none"  # what a full memory lets happen: nothing, or the whole write


async def prepare(r: aioredis.Redis, settings: Settings, steps: list[str]) -> dict[str, Any]:
    """Build the state a case starts from; returns what the write and the judge need."""
    ctx: dict[str, Any] = {"pool": POOL}
    if "pool" in steps or "user" in steps:
        await store.create_pool(r, settings, POOL, device_tracking=True)
    if "tombstone" in steps:
        await store.create_pool(r, settings, POOL)
        await store.delete_pool(r, POOL)
    if "user" in steps:
        user = await store.create_user(r, POOL, USERNAME)
        ctx["user"] = user
    if "belongings" in steps:
        user = ctx["user"]
        await store.add_device(r, user, key=DEVICE)
        await store.add_device(r, user)
        await store.revoke_origin_jti(r, POOL, USERNAME, user.sub, OJTI)
        k = user.keys
        # Cached claims as get_device.lua stores them (left behind by a deletion: they expire).
        await r.set(k.claims("d1"), f"9999999999:1:0:{user.sub}", px=3_600_000)
    raw_gen = await r.hget(keys.pool(POOL), "gen")
    ctx["gen"] = raw_gen.decode() if isinstance(raw_gen, bytes) else raw_gen
    ctx["issuer"] = settings.issuer(POOL)
    for script in ADMIN_SCRIPTS:  # loaded, so every run sends the same commands
        await r.script_load(script.source)
    return ctx


# -- what each write looks like, whole ---------------------------------------------------------
def _pool_changed_with_version(before: Dump, after: Dump, extra: set[str]) -> None:
    assert changed(before, after) == {keys.pool(POOL), keys.POOLS_VERSION} | extra
    assert after[keys.POOLS_VERSION] != before.get(keys.POOLS_VERSION)


def whole_create_pool(before: Dump, after: Dump, ctx: dict[str, Any]) -> None:
    record = after[keys.pool(POOL)]
    assert record["deleted"] == "0" and record["id"] == POOL
    assert {"gen", "kid", "private_pem", "jwks", "issuer", "clients"} <= record.keys()
    assert record["gen"] != ctx["gen"]
    assert POOL in after[keys.POOLS]
    assert after[keys.ISSUERS][ctx["issuer"]] == POOL
    extra = {keys.ISSUERS} | ({keys.POOLS} if POOL not in before.get(keys.POOLS, set()) else set())
    _pool_changed_with_version(before, after, extra)


def whole_update_pool(before: Dump, after: Dump, ctx: dict[str, Any]) -> None:
    assert after[keys.pool(POOL)] == {**before[keys.pool(POOL)], "device_tracking": "0"}
    _pool_changed_with_version(before, after, set())


def whole_delete_pool(before: Dump, after: Dump, ctx: dict[str, Any]) -> None:
    record = dict(before[keys.pool(POOL)])
    del record["private_pem"], record["kid"]
    assert after[keys.pool(POOL)] == {**record, "deleted": "1"}
    assert ctx["issuer"] not in after.get(keys.ISSUERS, {})
    # The sweep of the pool's users may stop half-way (it is documented to): whatever else
    # changed must be a key of the deleted generation, gone.
    swept = changed(before, after) - {keys.pool(POOL), keys.POOLS_VERSION, keys.ISSUERS}
    prefix = keys.user_prefix(POOL, ctx["gen"])
    assert all(k.startswith(prefix) and k not in after for k in swept), swept
    _pool_changed_with_version(before, after, {keys.ISSUERS} | swept)


def whole_create_user(before: Dump, after: Dump, ctx: dict[str, Any]) -> None:
    k = user_keys(POOL, ctx["gen"], USERNAME)
    assert changed(before, after) == {k.user}
    user = after[k.user]
    assert user.keys() == {"username", "sub", "status", "enabled", "created_ms", "modified_ms"}
    assert (user["username"], user["status"], user["enabled"]) == (USERNAME, "CONFIRMED", "1")


def _user_hash_changed(before: Dump, after: Dump, ctx: dict[str, Any]) -> dict[str, str]:
    k = ctx["user"].keys
    assert changed(before, after) == {k.user}
    return {f: v for f, v in after[k.user].items() if before[k.user].get(f) != v}


def whole_disable(before: Dump, after: Dump, ctx: dict[str, Any]) -> None:
    diff = _user_hash_changed(before, after, ctx)
    assert diff.keys() == {"enabled", "signed_out_ms", "modified_ms"} and diff["enabled"] == "0"
    assert diff["signed_out_ms"] == diff["modified_ms"]


def whole_sign_out(before: Dump, after: Dump, ctx: dict[str, Any]) -> None:
    assert _user_hash_changed(before, after, ctx).keys() == {"signed_out_ms"}


def whole_revoke(before: Dump, after: Dump, ctx: dict[str, Any]) -> None:
    k = ctx["user"].keys
    assert changed(before, after) == {k.user, k.revoked}
    assert after[k.user] == {**before[k.user], "revoked": "1"}
    assert after[k.revoked] == {OJTI}


def whole_add_device(before: Dump, after: Dump, ctx: dict[str, Any]) -> None:
    k = ctx["user"].keys
    assert changed(before, after) == {k.user, k.devices, k.device(DEVICE)}
    assert after[k.devices] == {DEVICE: "1"}
    # The user's devices version moved with the device (ListDevices' conditional read).
    assert int(after[k.user]["dv"]) == int(before[k.user].get("dv", 0)) + 1
    device = after[k.device(DEVICE)]
    assert device["key"] == DEVICE and device["remembered"] == "remembered"
    assert device.keys() >= {"status", "last_ip", "create_ms", "modified_ms", "last_auth_ms"}


def whole_delete_user(before: Dump, after: Dump, ctx: dict[str, Any]) -> None:
    base = ctx["user"].keys.base
    claims = ctx["user"].keys.claims("d1")
    theirs = {k for k in before if k.startswith(base)} - {claims}
    assert len(theirs) == 5  # user, devices, 2 devices, revoked
    assert changed(before, after) == theirs
    assert not theirs & after.keys()
    # Cached claims are not indexed, so not deleted: they expire, and their sub is no user's.
    assert after[claims] == before[claims]


CASES = [
    Case(
        "create_pool",
        lambda r, s, c: store.create_pool(r, s, POOL, device_tracking=True),
        whole_create_pool,
    ),
    Case(
        "create_pool over a deleted one",
        lambda r, s, c: store.create_pool(r, s, POOL),
        whole_create_pool,
        ["tombstone"],
        # Its first write deletes the old record: from then on Redis lets the script finish.
        under_oom="whole",
    ),
    Case(
        "update_pool",
        lambda r, s, c: store.update_pool(r, POOL, device_tracking=False),
        whole_update_pool,
        ["pool"],
    ),
    Case("delete_pool", lambda r, s, c: store.delete_pool(r, POOL), whole_delete_pool, ["user"]),
    Case(
        "create_user",
        lambda r, s, c: store.create_user(r, POOL, USERNAME),
        whole_create_user,
        ["pool"],
    ),
    Case(
        "update_user (disable)",
        lambda r, s, c: store.update_user(r, POOL, USERNAME, enabled=False),
        whole_disable,
        ["user"],
    ),
    Case(
        "delete_user",
        lambda r, s, c: store.delete_user(r, POOL, USERNAME),
        whole_delete_user,
        ["user", "belongings"],
        under_oom="whole",  # UNLINK frees memory: Redis allows it when memory is full
    ),
    Case(
        "sign_out_user",
        lambda r, s, c: store.sign_out_user(r, POOL, USERNAME),
        whole_sign_out,
        ["user"],
    ),
    Case(
        "revoke_origin_jti",
        lambda r, s, c: store.revoke_origin_jti(r, POOL, USERNAME, c["user"].sub, OJTI),
        whole_revoke,
        ["user"],
    ),
    Case(
        "add_device",
        lambda r, s, c: store.add_device(r, c["user"], key=DEVICE),
        whole_add_device,
        ["user"],
    ),
]
CASE_IDS = [c.name for c in CASES]


def bound(
    case: Case, settings: Settings, ctx: dict[str, Any]
) -> Callable[[aioredis.Redis], Awaitable[Any]]:
    """The case's write, ready to run on a client."""
    return lambda r: case.write(r, settings, ctx)


def judge(case: Case, before: Dump, after: Dump, ctx: dict[str, Any]) -> str:
    """'none' if nothing changed, 'whole' if the write's whole effect is there; else fail."""
    if after == before:
        return "none"
    case.whole(before, after, ctx)
    return "whole"


# -- servers --------------------------------------------------------------------------------------
class Durable(RedisServer):
    """A redis-server with AOF fsynced on every write: a restart holds what was acknowledged."""

    def __init__(self) -> None:
        super().__init__(None, "--appendonly", "yes", "--appendfsync", "always")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown, no last AOF write
        self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        if self.proc is not None:
            self.kill()
        self.start()


@pytest.fixture(scope="module")
def durable() -> Iterator[Durable]:
    server = Durable()
    server.start()
    yield server
    if server.proc is not None:
        server.stop()


@pytest.fixture(scope="module")
def small() -> Iterator[RedisServer]:
    server = RedisServer(None, "--maxmemory-policy", "noeviction")
    server.start()
    yield server
    server.stop()


def run(url: str, fn: Callable[[aioredis.Redis], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        client = kw.pop("client", None) or aioredis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5
        )
        try:
            return await fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def fresh(url: str, settings: Settings, case: Case) -> tuple[dict[str, Any], Dump]:
    sync = redis.Redis.from_url(url)
    try:
        sync.flushall()
        ctx = run(url, lambda r: prepare(r, settings, case.setup))
        return ctx, dump(sync)
    finally:
        sync.close()


def state_after(url: str, case: Case, before: Dump, ctx: dict[str, Any]) -> str:
    sync = redis.Redis.from_url(url)
    try:
        return judge(case, before, dump(sync), ctx)
    finally:
        sync.close()


# -- (a) out of memory ---------------------------------------------------------------------------
def _fill(client: redis.Redis) -> None:
    """Cap memory a little above what is used, add junk until a write is refused, then lower
    the cap under what is used, so every write that may grow memory is refused (at the exact
    edge a small write may still fit: test_out_of_memory_at_the_edge covers that)."""
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 256 * 1024)
    for i in range(100_000):
        try:
            client.set(f"junk:{i}", "x" * 1024)
        except OutOfMemoryError:
            break
    else:
        raise AssertionError("memory never ran out")
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) - 64 * 1024)
    with pytest.raises(OutOfMemoryError):
        client.set("junk:last", "x")


def _is_oom(exc: BaseException) -> bool:
    # Refused by Redis itself, or by redis.call inside a script ("... -OOM command not ...").
    return isinstance(exc, OutOfMemoryError) or "OOM command not allowed" in str(exc)


# A script's first write decides whether Redis refuses it when memory is full (later writes
# always go through, so a script is never cut in two). On Redis 6.2 any write counts, even a DEL
# of a missing key: add_device.lua and create_pool.lua once began with one and so always wrote
# past `maxmemory`; they now delete only what exists, and these cases hold them to it.
OOM_CASES = CASES


@pytest.mark.parametrize("case", OOM_CASES, ids=CASE_IDS)
def test_out_of_memory_writes_whole_or_nothing(small: RedisServer, case: Case) -> None:
    settings = make_settings(small.url)
    ctx, before = fresh(small.url, settings, case)
    sync = redis.Redis.from_url(small.url)
    try:
        _fill(sync)
        try:
            run(small.url, bound(case, settings, ctx))
        except ResponseError as exc:
            assert _is_oom(exc), exc
            outcome = "none"
        else:
            outcome = "whole"
        assert state_after(small.url, case, before, ctx) == outcome
        # Only what frees memory may go through when memory is full.
        assert outcome == case.under_oom
        # The fault clears: the same write succeeds and is whole.
        sync.config_set("maxmemory", 0)
        if outcome == "none":
            run(small.url, bound(case, settings, ctx))
        assert state_after(small.url, case, before, ctx) == "whole"
    finally:
        sync.config_set("maxmemory", 0)
        sync.close()


@pytest.mark.parametrize(
    "what",
    [
        "create_user",
        "add_device",
    ],
)
def test_out_of_memory_at_the_edge(small: RedisServer, what: str) -> None:
    """Writes that grow memory, repeated until the limit is crossed: each one that succeeded is
    whole, the one refused left nothing, whichever command of it crossed the limit."""
    settings = make_settings(small.url)
    sync = redis.Redis.from_url(small.url)
    sync.flushall()
    user = run(small.url, lambda r: _edge_user(r, settings))
    used = int(sync.info("memory")["used_memory"])
    sync.config_set("maxmemory", used + 100 * 1024)
    made: list[str] = []
    try:
        for i in range(3_000):  # a few hundred fill 100 KB
            name = f"{what}-{i}" if what == "create_user" else f"us-east-1_{uuid.UUID(int=i)}"
            try:
                if what == "create_user":
                    run(small.url, partial(store.create_user, pool_id=POOL, username=name))
                else:
                    run(small.url, partial(store.add_device, user=user, key=name))
            except ResponseError as exc:
                assert _is_oom(exc), exc
                refused = name
                break
            made.append(name)
        else:
            raise AssertionError("memory never ran out")
        assert len(made) > 10
        k = user.keys
        if what == "create_user":
            gen = user.gen
            for name in [*made[-3:], refused]:
                exists = sync.exists(keys.UserKeys(POOL, gen, name).user)
                assert exists == (name != refused)
        else:
            members = {m.decode() for m in cast(list[bytes], sync.hkeys(k.devices))}
            assert members == set(made)  # every success, and not the refused one
            assert not sync.exists(k.device(refused))
            assert all(sync.hget(k.device(d), "key") == d.encode() for d in made[-3:])
        sync.config_set("maxmemory", 0)
        if what == "create_user":
            run(small.url, lambda r: store.create_user(r, POOL, refused))
        else:
            run(small.url, lambda r: store.add_device(r, user, key=refused))
            assert sync.hexists(k.devices, refused)
    finally:
        sync.config_set("maxmemory", 0)
        sync.close()


async def _edge_user(r: aioredis.Redis, settings: Settings) -> store.User:
    await store.create_pool(r, settings, POOL)
    return await store.create_user(r, POOL, USERNAME)


# -- (b) killed mid-write ----------------------------------------------------------------------
class Crashing(aioredis.Redis):
    """redis-py's client, which kills the server at one chosen command of a write.

    `plan = (index, mode)`: at the index-th command, "before" kills the server before sending
    it; "in flight" stops the server (SIGSTOP), sends the command, then kills it while the
    command waits unanswered.
    """

    server: Durable
    plan: tuple[int, str] | None = None
    sent = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        index = self.sent
        self.sent += 1
        if self.plan is None or self.plan[0] != index:
            return await super().execute_command(*args, **options)
        proc = self.server.proc
        assert proc is not None
        if self.plan[1] == "before":
            self.server.kill()
            return await super().execute_command(*args, **options)
        os.kill(proc.pid, signal.SIGSTOP)
        pending = asyncio.ensure_future(super().execute_command(*args, **options))
        await asyncio.sleep(0.02)  # the command is on its way, the server frozen
        assert not pending.done()
        self.server.kill()
        return await pending


def crashing(server: Durable, plan: tuple[int, str] | None) -> Crashing:
    client = cast(
        Crashing, Crashing.from_url(server.url, socket_timeout=5, socket_connect_timeout=5)
    )
    client.server = server
    client.plan = plan
    return client


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_killed_mid_write_whole_or_nothing(durable: Durable, case: Case) -> None:
    settings = make_settings(durable.url)
    # A clean run counts the commands the write sends.
    ctx, before = fresh(durable.url, settings, case)
    counter = crashing(durable, None)
    run(durable.url, bound(case, settings, ctx), client=counter)
    assert state_after(durable.url, case, before, ctx) == "whole"
    commands = counter.sent
    assert commands >= 1
    outcomes: set[str] = set()
    for index in range(commands):
        for mode in ("before", "in flight"):
            ctx, before = fresh(durable.url, settings, case)
            client = crashing(durable, (index, mode))
            write = bound(case, settings, ctx)
            with pytest.raises(RedisConnectionError):
                run(durable.url, write, client=client)
            durable.restart()  # from the AOF: what was acknowledged before the kill
            where = f"killed {mode} command {index + 1} of {commands}"
            try:
                outcome = state_after(durable.url, case, before, ctx)
                outcomes.add(outcome)
                if outcome == "none":
                    # Nothing left behind blocks the same write now.
                    run(durable.url, write)
                    assert state_after(durable.url, case, before, ctx) == "whole"
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}") from exc
    # Killed before its first command, nothing was made (the judge can tell "none").
    assert "none" in outcomes
