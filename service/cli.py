"""`python -m service ...`: the command line for operators and test harnesses.

Every command reads the same settings (Settings.from_env) and, with REDIS_URL unset, the same
embedded Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from . import clients, connect, devices_io, embedded, logs, seeding, store, tokens
from .admin_input import client_id as valid_client_id
from .admin_input import device_key as valid_device_key
from .admin_input import ttl_s as valid_ttl_s
from .devices import device_from_hash
from .pools import PoolRegistry, text
from .settings import Settings, SettingsError

Handler = Callable[[argparse.Namespace, Settings, aioredis.Redis], Awaitable[Any]]


def _emit(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


async def _with_redis(settings: Settings, handler: Handler, args: argparse.Namespace) -> Any:
    url = await asyncio.to_thread(embedded.redis_url, settings)
    r = connect.admin_client(url, 10)
    try:
        await store.ensure_default_pool(r, settings)
        return await handler(args, settings, r)
    finally:
        await r.aclose()


def _pool_id(args: argparse.Namespace, settings: Settings) -> str:
    return getattr(args, "pool_id", None) or settings.default_pool_id


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
        _pool_id(args, settings),
        device_tracking=not args.no_device_tracking,
        client_ids=args.client_id or None,
        jwks=jwks,
        jwks_url=args.jwks_url,
        issuer=args.issuer,
        challenge_on_new_device=args.challenge_on_new_device,
        remember_on_prompt=args.remember_on_prompt,
    )
    _emit(_pool_view(record))


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
    _emit(_pool_view(await store.pool_record(r, _pool_id(args, settings))))


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
    await store.update_pool(r, _pool_id(args, settings), **changes)
    _emit(_pool_view(await store.pool_record(r, _pool_id(args, settings))))


async def pool_delete(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    await store.delete_pool(r, _pool_id(args, settings))


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
        r, _pool_id(args, settings), args.username, status=args.status, enabled=not args.disabled
    )
    if args.password is not None:
        # Permanent, keeping the status asked for (set_password would make it CONFIRMED).
        await store.set_password(r, user.pool_id, user.username, args.password)
        user = await store.update_user(r, user.pool_id, user.username, status=args.status)
    _emit(_user_view(user))


async def user_set_password(
    args: argparse.Namespace, settings: Settings, r: aioredis.Redis
) -> None:
    user = await store.set_password(
        r, _pool_id(args, settings), args.username, args.password, permanent=not args.temporary
    )
    _emit(_user_view(user))


async def user_update(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    user = await store.update_user(
        r, _pool_id(args, settings), args.username, status=args.status, enabled=args.enabled
    )
    _emit(_user_view(user))


async def user_delete(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    await store.delete_user(r, _pool_id(args, settings), args.username)


async def user_sign_out(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    cutoff = await store.sign_out_user(r, _pool_id(args, settings), args.username)
    _emit({"Username": args.username, "SignedOutAt": cutoff / 1000})


async def revoke_token(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    token = args.token if args.token != "-" else sys.stdin.read().strip()  # noqa: S105
    registry = PoolRegistry()
    await registry.load(r)
    claims = tokens.verify(token, registry)
    await store.revoke_origin_jti(r, claims.pool.id, claims.username, claims.sub, claims.origin_jti)
    _emit({"RevokedOriginJti": claims.origin_jti})


# -- device, token -------------------------------------------------------------------------
async def device_add(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    pool_id = _pool_id(args, settings)
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
    _emit(device)


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
    pool_id = _pool_id(args, settings)
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
    _emit({"AccessToken": value, "RefreshToken": refresh_token})


async def redis_url(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    sys.stdout.write(embedded.redis_url(settings) + "\n")


# -- seed, devices export / import ----------------------------------------------------------
async def seed(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    plan = seeding.SeedPlan(
        redis_url=await asyncio.to_thread(embedded.redis_url, settings),
        pool_id=_pool_id(args, settings),
        prefix=args.prefix,
        users=args.users,
        devices=args.devices,
        tokens=args.tokens,
        ttl_s=args.ttl,
        fmt=args.format,
    )
    if args.out in (None, "-"):
        await seeding.seed(r, plan, sys.stdout.buffer, workers=args.workers)
        return
    with open(args.out, "wb") as out:  # noqa: ASYNC230  (a local file, written in chunks)
        await seeding.seed(r, plan, out, workers=args.workers)


async def devices_export(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    await devices_io.export(
        r, _pool_id(args, settings), sys.stdout.buffer, settings=settings, username=args.user
    )


async def devices_import(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    report = await devices_io.import_file(
        r,
        _pool_id(args, settings),
        args.file,
        username=args.user,
        create_users=args.create_users,
        strict=args.strict,
    )
    imported = report.created + report.replaced
    _emit({"Imported": imported, "Created": report.created, "Replaced": report.replaced,
           "Bad": len(report.bad)})  # fmt: skip
    if report.bad:
        raise store.StoreError(
            f"{len(report.bad)} of {report.total} devices not imported (see above)"
        )


# -- serve ---------------------------------------------------------------------------------
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
    c.add_argument("--format", choices=seeding.FORMATS, default="jsonl")
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
