"""`devices export`: every device of a pool (or of one user) as JSON lines, in the format
service/bulk/devices_io.py describes."""

from __future__ import annotations

import sys
from typing import IO, Any

import orjson
import redis.asyncio as aioredis
from tqdm import tqdm

from .. import store
from ..credentials.pool import text
from ..model.devices import device_from_hash
from ..redis_io import keys, lua
from ..runtime.settings import Settings
from ..store import admin_input
from .devices_format import _KNOWN, BATCH


def export_line(username: str, fields: dict[str, str], *, pool_id: str, account_id: str) -> bytes:
    """One device's line: its admin view, owner and the fields a DeviceType does not carry."""
    line: dict[str, Any] = {
        "Username": username,
        "Device": device_from_hash(
            fields, username=username, pool_id=pool_id, account_id=account_id
        ),
    }
    if "confirmed" in fields:
        line["Confirmed"] = fields["confirmed"] != "0"
    if "verifier" in fields or "salt" in fields:
        line["DeviceSecretVerifierConfig"] = {
            "PasswordVerifier": fields.get("verifier", ""),
            "Salt": fields.get("salt", ""),
        }
    extra = {k: v for k, v in sorted(fields.items()) if k not in _KNOWN}
    if extra:
        line["Extra"] = extra
    return orjson.dumps(line) + b"\n"


async def _owners(r: aioredis.Redis, pool_id: str, gen: str, username: str | None) -> list[str]:
    if username is not None:
        admin_input.username(username)
        await store.get_user(r, pool_id, username)  # StoreError when there is no such user
        return [username]
    found = set()
    async for raw in r.scan_iter(match=keys.devices_sets_pattern(pool_id, gen), count=1000):
        owner = keys.devices_set_owner(pool_id, gen, text(raw))
        if owner is not None:
            found.add(owner)
    return sorted(found)


async def export(
    r: aioredis.Redis,
    pool_id: str,
    out: IO[bytes],
    *,
    settings: Settings,
    username: str | None = None,
    progress: bool | None = None,
) -> int:
    """Write every device of `pool_id` (or of one user) to `out`, one line each, ordered by
    username and device key. Returns how many."""
    admin_input.pool_id(pool_id)
    gen = (await store.pool_record(r, pool_id)).get("gen", "0")
    owners = await _owners(r, pool_id, gen, username)
    await r.script_load(lua.DEVICE_KEYS.source)  # then EVALSHA in pipelines
    show = sys.stderr.isatty() if progress is None else progress
    written = 0
    with tqdm(
        total=len(owners), unit="user", desc="export", disable=not show, file=sys.stderr
    ) as bar:
        for i in range(0, len(owners), BATCH):
            batch = owners[i : i + BATCH]
            user_keys = [keys.UserKeys(pool_id, gen, name) for name in batch]
            pipe = r.pipeline(transaction=False)
            for uk in user_keys:
                pipe.evalsha(lua.DEVICE_KEYS.sha, 1, uk.devices)
            members = await pipe.execute()
            wanted = [
                (name, uk, device_key)
                for name, uk, keys_ in zip(batch, user_keys, members, strict=True)
                for device_key in sorted(text(k) for k in keys_)
            ]
            pipe = r.pipeline(transaction=False)
            for _, uk, device_key in wanted:
                pipe.hgetall(uk.device(device_key))
            hashes = await pipe.execute()
            lines = [
                export_line(
                    name,
                    {text(k): text(v) for k, v in raw.items()},
                    pool_id=pool_id,
                    account_id=settings.account_id,
                )
                for (name, _, _), raw in zip(wanted, hashes, strict=True)
                if raw  # a set member whose hash is gone: nothing to export
            ]
            out.write(b"".join(lines))
            written += len(lines)
            bar.update(len(batch))
    out.flush()
    return written
