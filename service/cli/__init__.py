"""`python -m service ...`: the command line for operators and test harnesses.

Every command reads the same settings (Settings.from_env) and, with REDIS_URL unset, the same
embedded Redis.
"""

# The parser and the dispatch live here; the commands live in one module a concept:
# cli_admin (pool, user, revoke-token, device add), cli_tokens (token), cli_bulk (seed,
# devices export / import) and cli_serve (serve, admin-credentials, redis url).
from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from .. import store
from ..bulk import seed_plan
from ..redis_io import connect, embedded
from ..runtime.settings import Settings, SettingsError
from .admin import (
    device_add,
    pool_create,
    pool_delete,
    pool_show,
    pool_update,
    revoke_token,
    user_create,
    user_delete,
    user_set_password,
    user_sign_out,
    user_update,
)
from .bulk import devices_export, devices_import, seed
from .serve import admin_credentials, redis_url, serve
from .tokens import mint_token, token

# mint_token is imported from here by tests/conftest.py and bench/seed.py.
__all__ = ["build_parser", "main", "mint_token"]

Handler = Callable[[argparse.Namespace, Settings, aioredis.Redis], Awaitable[Any]]


async def _with_redis(settings: Settings, handler: Handler, args: argparse.Namespace) -> Any:
    url = await asyncio.to_thread(embedded.redis_url, settings)
    r = connect.admin_client(url, 10)
    try:
        await store.ensure_default_pool(r, settings)
        return await handler(args, settings, r)
    finally:
        await r.aclose()


# -- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", help="address to listen on (HOST)")
    s.add_argument("--port", type=int, help="port to listen on (PORT); 0 picks a free one")
    s.add_argument("--workers", type=int, help="worker processes sharing the port (WORKERS)")
    s.set_defaults(run=None)

    pool = sub.add_parser("pool", help="user pools").add_subparsers(dest="action", required=True)
    c = pool.add_parser("create", help="create a pool with its own RSA keys (or external keys)")
    c.add_argument("pool_id", nargs="?", metavar="POOL_ID")
    c.add_argument("--no-device-tracking", action="store_true")
    c.add_argument("--client-id", action="append", help="app client id (repeatable)")
    c.add_argument("--jwks-file", help="trust the keys in this JWKS file instead of own keys")
    c.add_argument("--jwks-url", help="trust the keys at this JWKS URL (e.g. a real pool's)")
    c.add_argument("--issuer", help="the tokens' iss (default: ISSUER_BASE_URL/POOL_ID)")
    c.add_argument(
        "--challenge-on-new-device",
        action="store_true",
        help="DeviceConfiguration.ChallengeRequiredOnNewDevice",
    )
    c.add_argument(
        "--remember-on-prompt",
        action="store_true",
        help="DeviceConfiguration.DeviceOnlyRememberedOnUserPrompt: ConfirmDevice leaves devices "
        "not remembered until the user opts in (UpdateDeviceStatus)",
    )
    c.set_defaults(run=pool_create)
    c = pool.add_parser("show", help="show a pool as JSON")
    c.add_argument("pool_id", nargs="?", metavar="POOL_ID")
    c.set_defaults(run=pool_show)
    c = pool.add_parser("update", help="change device tracking and the device configuration")
    c.add_argument("pool_id", nargs="?", metavar="POOL_ID")
    for flag, dest in (
        ("device-tracking", "device_tracking"),
        ("challenge-on-new-device", "challenge_on_new_device"),
        ("remember-on-prompt", "remember_on_prompt"),
    ):
        g = c.add_mutually_exclusive_group()
        g.add_argument(f"--{flag}", dest=dest, action="store_true", default=None)
        g.add_argument(f"--no-{flag}", dest=dest, action="store_false")
    c.set_defaults(run=pool_update)
    c = pool.add_parser("delete", help="delete a pool (its tokens then get ResourceNotFound)")
    c.add_argument("pool_id", metavar="POOL_ID")
    c.set_defaults(run=pool_delete)

    user = sub.add_parser("user", help="users").add_subparsers(dest="action", required=True)
    c = user.add_parser("create", help="create a user; prints JSON")
    c.add_argument("username", metavar="USERNAME")
    c.add_argument("--pool-id")
    c.add_argument("--status", choices=store.USER_STATUSES, default="CONFIRMED")
    c.add_argument("--disabled", action="store_true")
    c.add_argument("--password", help="a permanent password (only its SRP verifier is stored)")
    c.set_defaults(run=user_create)
    c = user.add_parser(
        "set-password", help="set a password (--temporary: FORCE_CHANGE_PASSWORD); prints JSON"
    )
    c.add_argument("username", metavar="USERNAME")
    c.add_argument("password", metavar="PASSWORD")
    c.add_argument("--pool-id")
    c.add_argument(
        "--temporary",
        action="store_true",
        help="the next sign-in must answer NEW_PASSWORD_REQUIRED",
    )
    c.set_defaults(run=user_set_password)
    c = user.add_parser("update", help="change status or enabled; prints JSON")
    c.add_argument("username", metavar="USERNAME")
    c.add_argument("--pool-id")
    c.add_argument("--status", choices=store.USER_STATUSES)
    g = c.add_mutually_exclusive_group()
    g.add_argument("--enable", dest="enabled", action="store_true", default=None)
    g.add_argument("--disable", dest="enabled", action="store_false")
    c.set_defaults(run=user_update)
    c = user.add_parser("delete", help="delete a user and their devices")
    c.add_argument("username", metavar="USERNAME")
    c.add_argument("--pool-id")
    c.set_defaults(run=user_delete)
    c = user.add_parser("sign-out", help="revoke every token issued to the user until now")
    c.add_argument("username", metavar="USERNAME")
    c.add_argument("--pool-id")
    c.set_defaults(run=user_sign_out)

    c = sub.add_parser("revoke-token", help="revoke every token sharing this token's origin_jti")
    c.add_argument("token", metavar="TOKEN", help="an access token, or - to read it from stdin")
    c.set_defaults(run=revoke_token)

    dev = sub.add_parser("device", help="devices").add_subparsers(dest="action", required=True)
    c = dev.add_parser("add", help="add a device; prints it as GetDevice returns it")
    c.add_argument("username", metavar="USERNAME")
    c.add_argument("--pool-id")
    c.add_argument("--name")
    c.add_argument("--key", help="device key (default: <region>_<uuid>)")
    c.add_argument("--ip", default="127.0.0.1", help="last_ip_used")
    c.add_argument("--not-remembered", action="store_true")
    c.add_argument(
        "--unconfirmed",
        action="store_true",
        help="as a sign-in leaves a new device: ConfirmDevice must confirm it",
    )
    c.set_defaults(run=device_add)

    c = sub.add_parser("token", help="mint an access token; prints the token alone")
    c.add_argument("username", metavar="USERNAME")
    c.add_argument("--pool-id")
    c.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds, 1 to 86400")
    c.add_argument("--scope", action="append", help="scope (repeatable; default: admin scope)")
    c.add_argument("--client-id")
    c.add_argument("--device-key")
    c.add_argument(
        "--with-refresh",
        action="store_true",
        help="print JSON with AccessToken and a RefreshToken sharing its origin_jti",
    )
    c.set_defaults(run=token)

    c = sub.add_parser(
        "seed",
        help="create users <prefix>-000001... with K devices each (and tokens); one line a user",
    )
    c.add_argument("--pool-id")
    c.add_argument("--users", type=int, required=True, metavar="N")
    c.add_argument("--devices", type=int, default=1, metavar="K", help="devices per user (1)")
    c.add_argument("--prefix", default="user", help="usernames are PREFIX-000001, ... (user)")
    c.add_argument("--tokens", action="store_true", help="mint an access and a refresh token each")
    c.add_argument("--ttl", type=int, default=3600, help="access tokens' lifetime, 1 to 86400 s")
    c.add_argument("--out", metavar="FILE", help="write the lines here (default: stdout)")
    c.add_argument("--format", choices=seed_plan.FORMATS, default="jsonl")
    c.add_argument("--workers", type=int, help="processes minting tokens (default: cores + 1)")
    c.set_defaults(run=seed)

    dio = sub.add_parser("devices", help="devices in bulk").add_subparsers(
        dest="action", required=True
    )
    c = dio.add_parser("export", help="every device of the pool (or of --user), one JSON a line")
    c.add_argument("--pool-id")
    c.add_argument("--user", metavar="USERNAME")
    c.set_defaults(run=devices_export)
    c = dio.add_parser(
        "import",
        help='import `devices export` lines, or admin-list-devices JSON ({"Devices": [...]})',
    )
    c.add_argument("file", metavar="FILE", help="the file, or - for stdin")
    c.add_argument("--pool-id")
    c.add_argument("--user", metavar="USERNAME", help="the owner, where a device names none")
    c.add_argument("--create-users", action="store_true", help="create owners that do not exist")
    c.add_argument("--strict", action="store_true", help="stop at the first bad line")
    c.set_defaults(run=devices_import)

    c = sub.add_parser(
        "admin-credentials",
        help="print the credentials admin calls (SigV4) take: ADMIN_CREDENTIALS, else the "
        "pair kept in Redis (made if none is yet)",
    )
    c.add_argument("--format", choices=("env", "json"), default="env")
    c.set_defaults(run=admin_credentials)

    rd = sub.add_parser("redis", help="the Redis in use").add_subparsers(
        dest="action", required=True
    )
    c = rd.add_parser("url", help="print the Redis URL (starting the embedded one if needed)")
    c.set_defaults(run=redis_url)
    c = rd.add_parser("stop", help="stop the embedded redis-server")
    c.set_defaults(run="stop")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    try:
        if args.command == "serve":
            return serve(args, settings)
        if args.run == "stop":
            sys.stdout.write("stopped\n" if embedded.stop(settings) else "not running\n")
            return 0
        asyncio.run(_with_redis(settings, args.run, args))
    except (store.StoreError, embedded.EmbeddedRedisError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except Exception as exc:
        # Any validation error or NotAuthorized from the CLI's own checks.
        message = getattr(exc, "message", None) or str(exc)
        sys.stderr.write(f"error: {type(exc).__name__}: {message}\n")
        return 1
    return 0
