"""The memory mode: Redis bytes per active user.

N users, each with one device, and one GetDevice each through the service (so each has what an
active user has: its hash with its bucket, its device set and device, and one cached token's
claims and index entry). `INFO memory` used_memory before the users are created and after the
last answer: the delta over N is the bytes per active user. `MEMORY USAGE` of the first user's
keys says where they go.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from service import lua, store, tokens
from service.settings import Settings

from .seed import _gather, _mint_many, _write


async def _used(r: aioredis.Redis) -> tuple[int, int]:
    info = await r.info("memory")
    return int(info["used_memory"]), int(await r.dbsize())


async def _create(
    url: str, pool_id: str, n: int
) -> tuple[dict[str, str], list[store.User], list[str], int, int]:
    r = aioredis.Redis.from_url(url, socket_timeout=30)
    try:
        # Loaded first, so that the script cache does not count as the users' memory.
        for script in (lua.CREATE_USER, lua.ADD_DEVICE, *lua.ALL):
            await r.script_load(script.source)
        record = await store.pool_record(r, pool_id)
        before, keys_before = await _used(r)
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
    url: str, pool_id: str, n: int, ttl_s: int, out: Path
) -> tuple[Path, list[store.User], list[str], int, int]:
    """Create the users and their devices; mint one token each. The rows file (token, device)
    is for cold.lua: the service verifies and caches each token on its first GetDevice."""
    record, users, devices, before, keys_before = asyncio.run(_create(url, pool_id, n))
    minted = _mint_many(record, [(u.sub, u.username) for u in users], ttl_s)
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
            "claims_index": k.claims_index,
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
    return {
        "users": n,
        "used_memory_before": before,
        "used_memory_after": after,
        "bytes_per_user": round((after - before) / n, 1),
        "keys_per_user": round((keys_after - keys_before) / n, 2),
        "mem_allocator": allocator,
        "first_user_keys": breakdown,
        "memory_usage_sum": sum(int(b["bytes"] or 0) for b in breakdown.values()),
    }
