"""The memory mode: Redis bytes per active user.

N users, each with one device, and one GetDevice each through the service (so each has what an
active user has: its hash with its bucket, its device index and device, and one cached token's
claims). `INFO memory` used_memory before the users are created and after the
last answer, less the change in client buffers (MEMORY STATS): the delta over N is the bytes
per active user. `MEMORY USAGE` of the first user's
keys says where they go. On the harness's own Redis this runs in database 1, a keyspace of its
own (the other modes' data, and Redis resizing its tables for them, do not count).
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from service import store
from service.credentials import tokens
from service.redis_io import lua
from service.runtime.settings import Settings

from .minting import mint_many
from .seed import _gather, _write

STATS_BEFORE: dict[str, int] = {}


async def _used(r: aioredis.Redis) -> tuple[int, int]:
    info = await r.info("memory")
    return int(info["used_memory"]), int(await r.dbsize())


async def _stats(r: aioredis.Redis) -> dict[str, int]:
    """MEMORY STATS' overheads: Redis's own tables (main and expires) and client buffers."""
    raw = await r.memory_stats()
    flat = raw if isinstance(raw, dict) else dict(zip(raw[::2], raw[1::2], strict=True))
    out: dict[str, int] = {}
    for name, value in flat.items():
        name = name.decode() if isinstance(name, bytes) else str(name)
        if isinstance(value, int):
            out[name] = value
        elif isinstance(value, list | dict):  # db.N -> overhead.hashtable.main, ...
            sub = (
                value
                if isinstance(value, dict)
                else dict(zip(value[::2], value[1::2], strict=True))
            )
            for k, v in sub.items():
                key = k.decode() if isinstance(k, bytes) else str(k)
                if isinstance(v, int):
                    out[f"{name}.{key}"] = v
    return out


async def _create(
    url: str, settings: Settings, n: int
) -> tuple[dict[str, str], list[store.User], list[str], int, int]:
    r = aioredis.Redis.from_url(url, socket_timeout=30)
    try:
        # Loaded first, so that the script cache does not count as the users' memory.
        for script in (lua.CREATE_USER, lua.ADD_DEVICE, *lua.ALL):
            await r.script_load(script.source)
        await store.ensure_default_pool(r, settings)
        pool_id = f"{settings.region}_Mem{secrets.token_hex(4)}"
        await store.create_pool(r, settings, pool_id)
        record = await store.pool_record(r, pool_id)
        # Let Redis finish any rehashing of its tables first: the old table freed half-way
        # would count against the users.
        await asyncio.sleep(0.5)
        before, keys_before = await _used(r)
        STATS_BEFORE.clear()
        STATS_BEFORE.update(await _stats(r))
        users = await _gather([store.create_user(r, pool_id, f"mem{i:06d}") for i in range(n)])
        devices = await _gather([store.add_device(r, u, name="phone") for u in users])
        return record, users, [d["key"] for d in devices], before, keys_before
    finally:
        await r.aclose()


async def _get_devices(url: str, rows: list[tuple[str, str]]) -> dict[str, int]:
    """One GetDevice per row, 8 at a time; the answers by type."""
    answers: dict[str, int] = {}
    sem = asyncio.Semaphore(8)
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.GetDevice",
    }

    async def one(session: aiohttp.ClientSession, token: str, device: str) -> None:
        async with sem:
            body = {"AccessToken": token, "DeviceKey": device}
            async with session.post(url + "/", json=body, headers=headers) as resp:
                data = await resp.json(content_type=None)
                kind = "OK" if resp.status == 200 else str(data.get("__type", resp.status))
                answers[kind] = answers.get(kind, 0) + 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, t, d) for t, d in rows))
    return answers


def get_each(url: str, rows: Path) -> dict[str, int]:
    """GetDevice once for each (token, device) row of `rows`, through the service at `url`."""
    pairs = [line.split("\t") for line in rows.read_text().splitlines()]
    return asyncio.run(_get_devices(url, [(t, d) for t, d in pairs]))


def seed_users(
    url: str, settings: Settings, n: int, ttl_s: int, out: Path
) -> tuple[Path, list[store.User], list[str], int, int]:
    """Create a pool of their own, then the users and their devices; mint one token each. The
    service verifies and caches each token on its first GetDevice (`get_each`)."""
    record, users, devices, before, keys_before = asyncio.run(_create(url, settings, n))
    minted = mint_many(record, [(u.sub, u.username) for u in users], ttl_s)
    rows = _write(out / "memory.tsv", list(zip(minted, devices, strict=True)))
    return rows, users, devices, before, keys_before


async def _after(
    url: str, users: list[store.User], devices: list[str], token: str
) -> tuple[int, int, dict[str, Any], str]:
    r = aioredis.Redis.from_url(url, socket_timeout=30)
    try:
        after, keys_after = await _used(r)
        k = users[0].keys
        names = {
            "user": k.user,
            "devices": k.devices,
            "device": k.device(devices[0]),
            "claims": k.claims(tokens.digest(token)),
        }
        breakdown: dict[str, Any] = {}
        for name, key in names.items():
            size = await r.memory_usage(key, samples=0)
            encoding = await r.object("encoding", key)
            breakdown[name] = {
                "key": key,
                "bytes": size,
                "encoding": encoding.decode() if isinstance(encoding, bytes) else encoding,
            }
        info = await r.info("memory")
        stats = await _stats(r)
        breakdown["_stats_delta"] = {
            k: v - STATS_BEFORE.get(k, 0)
            for k, v in stats.items()
            if k.startswith(("overhead", "clients", "dataset.bytes", "db.", "keys.count", "lua"))
            and v != STATS_BEFORE.get(k, 0)
        }
        return after, keys_after, breakdown, str(info.get("mem_allocator", ""))
    finally:
        await r.aclose()


def result(
    url: str,
    settings: Settings,
    users: list[store.User],
    devices: list[str],
    first_token: str,
    before: int,
    keys_before: int,
) -> dict[str, Any]:
    after, keys_after, breakdown, allocator = asyncio.run(_after(url, users, devices, first_token))
    n = len(users)
    stats_delta = breakdown.pop("_stats_delta")
    # Client buffers grow and shrink with whoever is connected: not the users' memory.
    clients = sum(v for k, v in stats_delta.items() if k.startswith("clients."))
    tables = sum(v for k, v in stats_delta.items() if ".overhead.hashtable." in k)
    return {
        "memory_stats_delta": stats_delta,
        "users": n,
        "used_memory_before": before,
        "used_memory_after": after,
        "client_buffers_delta": clients,
        "bytes_per_user": round((after - before - clients) / n, 1),
        "bytes_per_user_raw": round((after - before) / n, 1),
        # Of which Redis's keyspace tables (each key's entry and bucket, main and expires).
        "keyspace_tables_per_user": round(tables / n, 1),
        "keys_per_user": round((keys_after - keys_before) / n, 2),
        "mem_allocator": allocator,
        "first_user_keys": breakdown,
        "memory_usage_sum": sum(int(b["bytes"] or 0) for b in breakdown.values()),
    }
