"""What every admin store module shares: its errors, Redis's clock, and how an admin script runs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from ..credentials.pool import text
from ..redis_io.script import Script
from . import admin_input

StoreError = admin_input.StoreError
InvalidInput = admin_input.InvalidInput


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}


async def server_ms(r: aioredis.Redis) -> int:
    """Redis server time in ms: the one clock the hot-path script compares against."""
    sec, usec = await r.time()
    return int(sec) * 1000 + int(usec) // 1000


async def _run(r: aioredis.Redis, script: Script, script_keys: list[str], args: list[Any]) -> Any:
    """Run an admin script by its SHA1, loading it on first use (or after a Redis restart)."""
    try:
        return await r.evalsha(script.sha, len(script_keys), *script_keys, *args)
    except NoScriptError:
        return await r.eval(script.source, len(script_keys), *script_keys, *args)


def _flat(fields: Mapping[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def _version() -> str:
    # A fresh random value, not a counter: a counter restarts at 1 after FLUSHALL and a
    # worker that saw the old 1 would miss the change.
    return uuid.uuid4().hex
