"""CLI commands that run things: `serve` (with its banner and demo line), `admin-credentials`
and `redis url`.

The banner is plain text only on an interactive terminal; anywhere else (a container, a pipe,
a file) each of its lines is a JSON log line like every other record. The admin secret `serve`
made (ADMIN_CREDENTIALS unset) is printed only on a terminal or with DEMO on: a container's
stdout is its log pipeline. Elsewhere the banner names the key id, and `admin-credentials`
prints the pair when an operator asks for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import time
from dataclasses import replace

import orjson
import redis.asyncio as aioredis

from .. import store
from ..credentials.pool import text
from ..http import logs
from ..model import clients
from ..redis_io import connect, embedded
from ..runtime.settings import Settings
from .common import emit
from .tokens import mint_token

# The demo user's password (a load-test backend's demo, printed in the banner).
DEMO_PASSWORD = "Demo-passw0rd!"  # noqa: S105


log = logging.getLogger("service.serve")


async def demo_hint(r: aioredis.Redis, settings: Settings, endpoint: str) -> tuple[str, str]:
    """Ready-to-paste AWS CLI lines: GetDevice with the demo user's fresh token and device,
    and a sign-in as the demo user."""
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
        f"--no-sign-request --device-key {device_keys[0]} --access-token {access}",
        f"aws cognito-idp initiate-auth --endpoint-url {endpoint} "
        f"--region {settings.region} --no-sign-request --auth-flow USER_PASSWORD_AUTH "
        f"--client-id {client_id} --auth-parameters USERNAME=demo,PASSWORD={DEMO_PASSWORD}",
    )


def _exports(pair: tuple[str, str], region: str) -> str:
    key_id, secret = pair
    return (
        f"export AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret}\n"
        f"export AWS_DEFAULT_REGION={region}"
    )


class Banner:
    """serve's start-up lines on stdout: plain text on a terminal, else JSON log lines."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def say(self, text: str, msg: str, level: str = "INFO", **fields: object) -> None:
        if self.interactive:
            sys.stdout.write(text + "\n")
        else:
            line = logs.entry(level, log.name, msg, time.time(), **fields)
            sys.stdout.write(orjson.dumps(line).decode() + "\n")


async def _admin_credentials(settings: Settings) -> dict[str, str]:
    r = connect.admin_client(settings.redis_url, 10)
    try:
        return await store.ensure_admin_credentials(r)
    finally:
        await r.aclose()


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the HTTP service (flags over settings); returns the server's exit code."""
    from ..http import server

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
            log.warning("admin credentials not made yet: %s", exc)
    banner = Banner(sys.stdout.isatty())

    def announce(sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        endpoint = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}"

        async def hint() -> tuple[str, str]:
            r = connect.admin_client(settings.redis_url, 10)
            try:
                return await demo_hint(r, settings, endpoint)
            finally:
                await r.aclose()

        serving = f"serving Cognito GetDevice on {endpoint} (workers: {settings.workers})"
        banner.say(serving, serving, endpoint=endpoint, workers=settings.workers)
        if settings.demo:
            try:
                get_device, sign_in = asyncio.run(hint())
                banner.say(f"try it:\n  {get_device}", "try it", command=get_device)
                banner.say(f"sign in:\n  {sign_in}", "sign in", command=sign_in)
            except Exception as exc:  # the banner must never stop the server
                banner.say(f"(no demo line: {exc})", f"no demo line: {exc}", "WARNING")
        if made:
            pair = sorted(made.items())[0]
            if settings.demo or banner.interactive:
                exports = _exports(pair, settings.region)
                banner.say(
                    "admin calls (SigV4) take these credentials:\n  "
                    + exports.replace("\n", "\n  "),
                    "admin calls (SigV4) take these credentials",
                    access_key_id=pair[0],
                    command=exports,
                )
            else:
                banner.say(
                    f"admin calls (SigV4) take access key {pair[0]}; "
                    "print its secret with: python -m service admin-credentials",
                    "admin calls (SigV4) take the credentials kept in Redis; print them with: "
                    "python -m service admin-credentials",
                    access_key_id=pair[0],
                )
        sys.stdout.flush()

    return server.serve(settings, announce)


async def admin_credentials(
    args: argparse.Namespace, settings: Settings, r: aioredis.Redis
) -> None:
    """Print the admin credentials (ADMIN_CREDENTIALS, else the pair kept in Redis, made if
    none is yet), as the banner's export lines (the first pair) or as JSON (every pair)."""
    pairs = dict(settings.admin_credentials) or await store.ensure_admin_credentials(r)
    if args.format == "json":
        listed = [{"AccessKeyId": k, "SecretAccessKey": v} for k, v in sorted(pairs.items())]
        emit({"Credentials": listed, "Region": settings.region})
    else:
        sys.stdout.write(_exports(sorted(pairs.items())[0], settings.region) + "\n")


async def redis_url(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    sys.stdout.write(embedded.redis_url(settings) + "\n")
