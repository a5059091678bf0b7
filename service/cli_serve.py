"""CLI commands that run things: `serve` (with its banner and demo line) and `redis url`."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from dataclasses import replace

import orjson
import redis.asyncio as aioredis

from . import clients, connect, embedded, logs, store
from .cli_tokens import mint_token
from .pools import text
from .settings import Settings

# The demo user's password (a load-test backend's demo, printed in the banner).
DEMO_PASSWORD = "Demo-passw0rd!"  # noqa: S105


async def demo_hint(r: aioredis.Redis, settings: Settings, endpoint: str) -> str:
    """A ready-to-paste AWS CLI line with the demo user's fresh token and device."""
    pool_id = settings.default_pool_id
    await store.ensure_default_pool(r, settings)
    try:
        user = await store.get_user(r, pool_id, "demo")
    except store.StoreError:
        user = await store.create_user(r, pool_id, "demo")
    device_keys = sorted(text(k) for k in await store.device_keys(r, user.keys))
    if not device_keys:
        device_keys = [(await store.add_device(r, user, name="demo-device"))["key"]]
    access = await mint_token(r, settings, pool_id, "demo", ttl_s=3600)
    if not (await r.hget(user.keys.user, "srp_verifier")):
        await store.set_password(r, pool_id, "demo", DEMO_PASSWORD)
    record = await store.pool_record(r, pool_id)
    client_id = next(iter(clients.parse(orjson.loads(record["clients"]))))
    return (
        f"aws cognito-idp get-device --endpoint-url {endpoint} --region {settings.region} "
        f"--no-sign-request --device-key {device_keys[0]} --access-token {access}\n"
        f"sign in:\n  aws cognito-idp initiate-auth --endpoint-url {endpoint} "
        f"--region {settings.region} --no-sign-request --auth-flow USER_PASSWORD_AUTH "
        f"--client-id {client_id} --auth-parameters USERNAME=demo,PASSWORD={DEMO_PASSWORD}"
    )


async def _admin_credentials(settings: Settings) -> dict[str, str]:
    r = connect.admin_client(settings.redis_url, 10)
    try:
        return await store.ensure_admin_credentials(r)
    finally:
        await r.aclose()


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the HTTP service (flags over settings); returns the server's exit code."""
    from . import server

    settings = replace(
        settings,
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
        workers=args.workers or settings.workers,
    )
    settings = replace(settings, redis_url=embedded.redis_url(settings))
    logs.configure(settings.log_level)
    made: dict[str, str] = {}
    if not settings.admin_credentials:
        # Made (once, kept in Redis) before any worker starts, so every worker reads this pair.
        # Redis not there yet: the workers make it (and fail, and back off) themselves.
        try:
            made = asyncio.run(_admin_credentials(settings))
        except Exception as exc:
            sys.stderr.write(f"admin credentials not made yet: {exc}\n")

    def announce(sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        endpoint = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}"

        async def hint() -> str:
            r = connect.admin_client(settings.redis_url, 10)
            try:
                return await demo_hint(r, settings, endpoint)
            finally:
                await r.aclose()

        sys.stdout.write(f"serving Cognito GetDevice on {endpoint} (workers: {settings.workers})\n")
        if settings.demo:
            try:
                sys.stdout.write(f"try it:\n  {asyncio.run(hint())}\n")
            except Exception as exc:  # the banner must never stop the server
                sys.stdout.write(f"(no demo line: {exc})\n")
        if made:
            key_id, secret = sorted(made.items())[0]
            sys.stdout.write(
                "admin calls (SigV4) take these credentials:\n"
                f"  export AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret}\n"
                f"  export AWS_DEFAULT_REGION={settings.region}\n"
            )
        sys.stdout.flush()

    return server.serve(settings, announce)


async def redis_url(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    sys.stdout.write(embedded.redis_url(settings) + "\n")
