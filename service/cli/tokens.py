"""CLI token minting: `token` (an access token, and optionally a refresh token with it)."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis

from .. import store
from ..model import clients
from ..runtime.settings import Settings
from ..store.admin_input import client_id as valid_client_id
from ..store.admin_input import device_key as valid_device_key
from ..store.admin_input import ttl_s as valid_ttl_s
from .common import emit, pool_id_arg


async def mint_token(
    r: aioredis.Redis, settings: Settings, pool_id: str, username: str, **kwargs: Any
) -> str:
    mint = await store.token_minter(r, pool_id)
    return mint(await store.get_user(r, pool_id, username), **kwargs)


async def token(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    valid_ttl_s(args.ttl)
    if args.client_id is not None:
        valid_client_id(args.client_id)
    if args.device_key is not None:
        valid_device_key(args.device_key)
    pool_id = pool_id_arg(args, settings)
    origin_jti = str(uuid.uuid4())
    value = await mint_token(
        r,
        settings,
        pool_id,
        args.username,
        ttl_s=args.ttl,
        scopes=args.scope,
        client_id=args.client_id,
        device_key=args.device_key,
        origin_jti=origin_jti,
    )
    if not args.with_refresh:
        sys.stdout.write(value + "\n")
        return
    record = await store.pool_record(r, pool_id)
    client_id = args.client_id or sorted(clients.parse(orjson.loads(record["clients"])))[0]
    user = await store.get_user(r, pool_id, args.username)
    refresh_token = await store.mint_refresh(
        r, pool_id, user, client_id=client_id, origin_jti=origin_jti
    )
    emit({"AccessToken": value, "RefreshToken": refresh_token})
