"""CLI control-plane commands: `pool`, `user`, `revoke-token` and `device add`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from .. import store
from ..credentials import tokens
from ..credentials.pools import PoolRegistry
from ..model import clients
from ..model.devices import device_from_hash
from ..runtime.settings import Settings
from .common import emit, pool_id_arg


# -- pool ----------------------------------------------------------------------------------
async def pool_create(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    jwks = None
    if args.jwks_file:
        try:
            jwks = orjson.loads(await asyncio.to_thread(Path(args.jwks_file).read_bytes))
        except OSError as exc:
            raise store.InvalidInput(f"cannot read {args.jwks_file}: {exc.strerror}") from None
        except orjson.JSONDecodeError:
            raise store.InvalidInput(f"{args.jwks_file} is not JSON") from None
    record = await store.create_pool(
        r,
        settings,
        pool_id_arg(args, settings),
        device_tracking=not args.no_device_tracking,
        client_ids=args.client_id or None,
        jwks=jwks,
        jwks_url=args.jwks_url,
        issuer=args.issuer,
        challenge_on_new_device=args.challenge_on_new_device,
        remember_on_prompt=args.remember_on_prompt,
    )
    emit(_pool_view(record))


def _pool_view(record: dict[str, str]) -> dict[str, Any]:
    return {
        "Id": record["id"],
        "Issuer": record["issuer"],
        "ClientIds": list(clients.parse(orjson.loads(record["clients"]))),
        "DeviceTracking": record["device_tracking"] == "1",
        "JwksUrl": record.get("jwks_url"),
        "DeviceConfiguration": {
            "ChallengeRequiredOnNewDevice": record.get("device_challenge") == "1",
            "DeviceOnlyRememberedOnUserPrompt": record.get("device_remember_on_prompt") == "1",
        },
    }


async def pool_show(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    emit(_pool_view(await store.pool_record(r, pool_id_arg(args, settings))))


async def pool_update(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    changes = {
        "device_tracking": args.device_tracking,
        "challenge_on_new_device": args.challenge_on_new_device,
        "remember_on_prompt": args.remember_on_prompt,
    }
    if all(value is None for value in changes.values()):
        raise store.InvalidInput(
            "pool update needs --(no-)device-tracking, --(no-)challenge-on-new-device or "
            "--(no-)remember-on-prompt"
        )
    await store.update_pool(r, pool_id_arg(args, settings), **changes)
    emit(_pool_view(await store.pool_record(r, pool_id_arg(args, settings))))


async def pool_delete(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    await store.delete_pool(r, pool_id_arg(args, settings))


# -- user ----------------------------------------------------------------------------------
def _user_view(user: store.User) -> dict[str, Any]:
    return {
        "Username": user.username,
        "Sub": user.sub,
        "UserPoolId": user.pool_id,
        "UserStatus": user.status,
        "Enabled": user.enabled,
    }


async def user_create(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    user = await store.create_user(
        r, pool_id_arg(args, settings), args.username, status=args.status, enabled=not args.disabled
    )
    if args.password is not None:
        # Permanent, keeping the status asked for (set_password would make it CONFIRMED).
        await store.set_password(r, user.pool_id, user.username, args.password)
        user = await store.update_user(r, user.pool_id, user.username, status=args.status)
    emit(_user_view(user))


async def user_set_password(
    args: argparse.Namespace, settings: Settings, r: aioredis.Redis
) -> None:
    user = await store.set_password(
        r, pool_id_arg(args, settings), args.username, args.password, permanent=not args.temporary
    )
    emit(_user_view(user))


async def user_update(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    user = await store.update_user(
        r, pool_id_arg(args, settings), args.username, status=args.status, enabled=args.enabled
    )
    emit(_user_view(user))


async def user_delete(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    await store.delete_user(r, pool_id_arg(args, settings), args.username)


async def user_sign_out(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    cutoff = await store.sign_out_user(r, pool_id_arg(args, settings), args.username)
    emit({"Username": args.username, "SignedOutAt": cutoff / 1000})


async def revoke_token(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    token = args.token if args.token != "-" else sys.stdin.read().strip()  # noqa: S105
    registry = PoolRegistry()
    await registry.load(r)
    claims = tokens.verify(token, registry)
    await store.revoke_origin_jti(r, claims.pool.id, claims.username, claims.sub, claims.origin_jti)
    emit({"RevokedOriginJti": claims.origin_jti})


# -- device --------------------------------------------------------------------------------
async def device_add(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    pool_id = pool_id_arg(args, settings)
    user = await store.get_user(r, pool_id, args.username)
    fields = await store.add_device(
        r,
        user,
        name=args.name,
        key=args.key,
        ip=args.ip,
        remembered=not args.not_remembered,
        confirmed=not args.unconfirmed,
    )
    device = device_from_hash(
        fields, username=user.username, pool_id=pool_id, account_id=settings.account_id
    )
    emit(device)
