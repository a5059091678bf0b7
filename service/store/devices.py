"""A user's devices in Redis: register one, the admin device operations, and listing them."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from ..credentials.pool import text
from ..redis_io import keys, lua
from . import admin_input
from ._common import StoreError, _decode, _flat, _run
from .users import User


async def add_device(
    r: aioredis.Redis,
    user: User,
    *,
    name: str | None = None,
    key: str | None = None,
    ip: str = "127.0.0.1",
    remembered: bool = True,
    sdk: str = "aws-sdk",
    confirmed: bool = True,
) -> dict[str, str]:
    """Register a device for `user`; returns its hash fields. An unconfirmed one is what a
    sign-in leaves (NewDeviceMetadata): invisible until ConfirmDevice confirms it."""
    if name is not None:
        admin_input.device_name(name)
    ip = admin_input.ip(ip)
    region = user.pool_id.split("_", 1)[0]
    device_key = admin_input.device_key(key) if key is not None else f"{region}_{uuid.uuid4()}"
    fields = {
        "key": device_key,
        "name": name or "",
        "status": "valid",
        "remembered": "remembered" if remembered else "not_remembered",
        "last_ip": ip,
        "sdk": sdk,
    }
    if not name:
        del fields["name"]
    if not confirmed:
        fields["confirmed"] = "0"
    k = user.keys
    now_ms = await _run(
        r,
        lua.ADD_DEVICE,
        [k.user, k.devices, k.device(device_key)],
        [device_key, user.sub, *_flat(fields)],
    )
    if now_ms is None:
        raise StoreError("User does not exist.")
    fields.update(
        create_ms=str(now_ms), modified_ms=str(now_ms), last_auth_ms=str(now_ms // 1000 * 1000)
    )
    return fields


# -- the admin plane (service/ops/admin.py) -------------------------------------------------
async def admin_device(
    r: aioredis.Redis,
    user: User,
    device_key: str,
    *,
    status: str | None = None,
    forget: bool = False,
) -> dict[str, str]:
    """AdminGetDevice / AdminUpdateDeviceStatus / AdminForgetDevice in the user's slot, with
    the user's existence checked in the same script. Returns the device's hash (before a
    forget). StoreError "User does not exist." or "Device does not exist."."""
    k = user.keys
    args = [device_key, status or "", "1" if forget else "0"]
    reply = await _run(r, lua.ADMIN_DEVICE, [k.user, k.devices, k.device(device_key)], args)
    code = reply[0]
    if code == b"NO_USER":
        raise StoreError("User does not exist.")
    if code == b"NO_DEVICE":
        raise StoreError("Device does not exist.")
    flat = reply[1:]
    return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}


async def device_keys(r: aioredis.Redis, k: keys.UserKeys) -> list[bytes]:
    """The keys of a user's devices, in no order."""
    found: list[bytes] = await _run(r, lua.DEVICE_KEYS, [k.devices], [])
    return found


async def user_devices(r: aioredis.Redis, user: User) -> list[dict[str, str]]:
    """Every confirmed device of `user` (remembered or not), as hashes."""
    k = user.keys
    found = []
    for raw_key in await device_keys(r, k):
        fields = _decode(await r.hgetall(k.device(text(raw_key))))
        if fields and fields.get("confirmed") != "0":
            found.append(fields)
    return found
