"""Pools in Redis: create (with their key pairs), read, update, delete, sweep, list, and swap
their app clients."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk

from ..credentials import jwks as jwks_doc
from ..credentials.pool import text
from ..redis_io import keys, lua
from ..runtime.settings import Settings
from . import admin_input
from ._common import StoreError, _decode, _flat, _run, _version, server_ms
from .ids import _client_id

# Keys per SCAN page and per UNLINK batch when sweeping a deleted pool's data.
SWEEP_PAGE = 500


# The flows a pool's generated app client allows (a pool created without --client-id): every
# flow this service serves, so a fresh pool signs users in at once, with the AWS CLI's
# USER_PASSWORD_AUTH too. Clients named with --client-id keep CreateUserPoolClient's defaults.
GENERATED_CLIENT_FLOWS = [
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
]


def _default_client() -> dict[str, Any]:
    return {"id": _client_id(), "explicit_auth_flows": GENERATED_CLIENT_FLOWS}


def _new_key_pair() -> tuple[str, str, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = base64.b64encode(hashlib.sha256(der).digest()).decode()
    public = jwk.construct(private.public_key(), "RS256").to_dict()
    # Cognito's JWKS member order and members.
    entry = {"alg": "RS256", "e": public["e"], "kid": kid, "kty": "RSA", "n": public["n"]}
    entry["use"] = "sig"
    return kid, pem, entry


async def create_pool(
    r: aioredis.Redis,
    settings: Settings,
    pool_id: str,
    *,
    device_tracking: bool = True,
    client_ids: list[str] | None = None,
    jwks: Any = None,
    jwks_url: str | None = None,
    issuer: str | None = None,
    challenge_on_new_device: bool = False,
    remember_on_prompt: bool = False,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    app_clients: list[Any] | None = None,
) -> dict[str, str]:
    """Create a pool with its own RSA key pair (or trusting external keys). Returns its record.
    `challenge_on_new_device` and `remember_on_prompt` are its DeviceConfiguration.
    CreateUserPool also gives `name`, `config` (every other member, kept as given, JSON) and
    `app_clients` (the `clients` list as is: none, rather than one made up).

    Every input is checked first (InvalidInput): a JWKS must be RSA public keys only, a JWKS
    URL must serve one now, and the issuer must be free among live pools (StoreError).
    """
    admin_input.pool_id(pool_id)
    for client in client_ids or []:
        admin_input.client_id(client)
    if issuer is not None:
        admin_input.issuer(issuer)
    public_doc = None
    try:
        if jwks is not None:
            public_doc = jwks_doc.validate(jwks)
        if jwks_url is not None:
            admin_input.jwks_url(jwks_url)
            await jwks_doc.fetch(jwks_url)  # refuse a URL that does not serve a valid JWKS now
    except jwks_doc.JwksError as exc:
        raise admin_input.InvalidInput(str(exc)) from None
    region = pool_id.split("_", 1)[0]
    record: dict[str, str] = {
        "id": pool_id,
        "gen": secrets.token_hex(6),
        "issuer": issuer or settings.issuer(pool_id),
        "region": region,
        "device_tracking": "1" if device_tracking else "0",
        "device_challenge": "1" if challenge_on_new_device else "0",
        "device_remember_on_prompt": "1" if remember_on_prompt else "0",
        "secret": secrets.token_hex(32),
        "clients": orjson.dumps(client_ids or [_default_client()]).decode(),
        "deleted": "0",
        "created_ms": str(await server_ms(r)),
    }
    if name is not None:
        record["name"] = name
    if config is not None:
        record["config"] = orjson.dumps(config).decode()
    if app_clients is not None:
        record["clients"] = orjson.dumps(app_clients).decode()
    record["modified_ms"] = record["created_ms"]
    if jwks is None and jwks_url is None:
        kid, pem, entry = _new_key_pair()
        # ID tokens are signed with a second key, as real pools do: the JWKS has both.
        id_kid, id_pem, id_entry = _new_key_pair()
        record.update(kid=kid, private_pem=pem, id_kid=id_kid, id_private_pem=id_pem)
        record["jwks"] = orjson.dumps({"keys": [entry, id_entry]}).decode()
    else:
        record["jwks"] = orjson.dumps(public_doc or {"keys": []}).decode()
        if jwks_url:
            record["jwks_url"] = jwks_url
    answer = await _run(
        r,
        lua.CREATE_POOL,
        [keys.pool(pool_id), keys.POOLS, keys.ISSUERS, keys.POOLS_VERSION],
        [pool_id, record["issuer"], _version(), *_flat(record)],
    )
    if answer == b"EXISTS":
        raise StoreError(f"User pool {pool_id} already exists.")
    if answer == b"ISSUER_TAKEN":
        raise StoreError(f"Issuer {record['issuer']} is already used by another user pool.")
    if answer == b"REPLACED":  # a deleted pool had this id: what its sweep missed goes now
        await sweep_pool(r, pool_id, keep_gen=record["gen"])
    return record


async def ensure_default_pool(r: aioredis.Redis, settings: Settings) -> None:
    """The default pool exists without any set-up: create it the first time it is needed."""
    if not await r.exists(keys.pool(settings.default_pool_id)):
        with contextlib.suppress(StoreError):  # another process created it first
            await create_pool(r, settings, settings.default_pool_id)


async def pool_record(r: aioredis.Redis, pool_id: str) -> dict[str, str]:
    raw = await r.hgetall(keys.pool(pool_id))
    if not raw or raw.get(b"deleted") == b"1":
        raise StoreError(f"User pool {pool_id} does not exist.")
    return _decode(raw)


async def update_pool(
    r: aioredis.Redis,
    pool_id: str,
    *,
    device_tracking: bool | None = None,
    challenge_on_new_device: bool | None = None,
    remember_on_prompt: bool | None = None,
) -> None:
    """Change a live pool's device tracking and DeviceConfiguration (None: leave as it is)."""
    flags = {
        "device_tracking": device_tracking,
        "device_challenge": challenge_on_new_device,
        "device_remember_on_prompt": remember_on_prompt,
    }
    fields = {name: "1" if on else "0" for name, on in flags.items() if on is not None}
    if not fields:
        await pool_record(r, pool_id)
        return
    args = [_version(), *_flat(fields)]
    if not await _run(r, lua.UPDATE_POOL, [keys.pool(pool_id), keys.POOLS_VERSION], args):
        raise StoreError(f"User pool {pool_id} does not exist.")
    if device_tracking is False:
        # Device operations of tokens already in use must stop now, on every worker.
        await sweep_claims(r, pool_id)


async def delete_pool(r: aioredis.Redis, pool_id: str) -> None:
    """Delete a pool: it becomes a tombstone (its tokens then get ResourceNotFoundException, as
    Cognito answers for a pool that no longer exists), its private key is dropped, its issuer
    is freed, and its users' keys, unreachable from then on, are swept."""
    gen = await _run(
        r,
        lua.DELETE_POOL,
        [keys.pool(pool_id), keys.ISSUERS, keys.POOLS_VERSION],
        [pool_id, _version()],
    )
    if gen is None:
        raise StoreError(f"User pool {pool_id} does not exist.")
    await sweep_pool(r, pool_id)


async def sweep_pool(r: aioredis.Redis, pool_id: str, *, keep_gen: str | None = None) -> int:
    """UNLINK the keys of every generation of `pool_id` but `keep_gen`. Returns how many.

    Bounded work per call to Redis (SCAN in pages of SWEEP_PAGE, UNLINK frees memory off
    Redis's main thread), and safe to stop half-way: what it has not reached is unreachable
    anyway, because every key carries its pool's generation, and the next create or delete of
    the id sweeps again. Never on a request path.
    """
    keep = None if keep_gen is None else keys.user_prefix(pool_id, keep_gen)
    return await _sweep(
        r, keys.pool_users_pattern(pool_id), lambda key: keep is None or not key.startswith(keep)
    )


async def _sweep(r: aioredis.Redis, pattern: str, wanted: Callable[[str], bool]) -> int:
    """UNLINK every key matching `pattern` that `wanted` takes, a SCAN page at a time; how
    many."""
    removed = 0
    batch: list[Any] = []
    async for key in r.scan_iter(match=pattern, count=SWEEP_PAGE):
        if wanted(text(key)):
            batch.append(key)
        if len(batch) >= SWEEP_PAGE:
            removed += await _unlink(r, batch)
            batch = []
    if batch:
        removed += await _unlink(r, batch)
    return removed


async def _unlink(r: aioredis.Redis, batch: list[Any]) -> int:
    # One key per call: on a cluster the keys of a page live in many slots.
    for key in batch:
        await r.unlink(key)
    return len(batch)


# -- the admin plane (service/ops/admin.py) -------------------------------------------------
async def live_pools(r: aioredis.Redis) -> list[dict[str, str]]:
    """Every live pool's record (admin listing; never on a request's hot path)."""
    records = []
    for raw_id in await r.smembers(keys.POOLS):
        raw = await r.hgetall(keys.pool(text(raw_id)))
        if raw and raw.get(b"deleted") != b"1":
            records.append(_decode(raw))
    return records


async def swap_clients(r: aioredis.Redis, pool_id: str, old: str, new: str) -> bool:
    """Replace a live pool's `clients` JSON `old` with `new`, atomically, only if it is still
    `old` (False: it changed meanwhile, or the pool is gone; read again and retry)."""
    args = [_version(), old, new]
    answer = await _run(r, lua.SWAP_CLIENTS, [keys.pool(pool_id), keys.POOLS_VERSION], args)
    if answer != 1:
        return False
    if _client_ids(old) - _client_ids(new):
        # The removed clients' access tokens must stop now, on every worker (sweep_claims).
        await sweep_claims(r, pool_id)
    return True


def _client_ids(clients_json: str) -> set[str]:
    items = orjson.loads(clients_json or "[]")
    ids = (c if isinstance(c, str) else c.get("id") if isinstance(c, dict) else None for c in items)
    return {i for i in ids if isinstance(i, str)}


async def sweep_claims(r: aioredis.Redis, pool_id: str) -> int:
    """UNLINK the cached claims of the live generation of `pool_id`; how many. After a write
    that narrows what a pool's tokens may do (a client removed, device tracking off), so that
    no worker lets one through by claims verified before it: each of the pool's tokens misses
    once, and a miss makes the worker check that its pools are current before it verifies
    (TokenStep._store). The warm path stays one EVALSHA; the cost is here, in the admin call,
    which answers only once the sweep is done (a SCAN of the keyspace in pages of SWEEP_PAGE,
    as sweep_pool's) and in one verification per token in use afterwards."""
    gen = await r.hget(keys.pool(pool_id), "gen")
    if gen is None:
        return 0
    live = text(gen)
    return await _sweep(
        r,
        keys.claims_pattern(pool_id, live),
        lambda key: keys.is_claims_key(pool_id, live, key),
    )
