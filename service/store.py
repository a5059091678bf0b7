"""Admin reads and writes of pools, users and devices (redis-py; never on the hot path)."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk
from jose.backends.base import Key

from . import keys, lua, tokens
from .pools import Pool, pool_from_record, text
from .settings import Settings

USER_STATUSES = ("CONFIRMED", "UNCONFIRMED", "RESET_REQUIRED")


class StoreError(Exception):
    """An admin request that cannot be done (unknown user, duplicate pool, ...)."""


@dataclass(frozen=True)
class User:
    pool_id: str
    username: str
    sub: str
    status: str
    enabled: bool

    @property
    def keys(self) -> keys.UserKeys:
        return keys.UserKeys(self.pool_id, self.sub)


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}


async def server_ms(r: aioredis.Redis) -> int:
    """Redis server time in ms: the one clock the hot-path script compares against."""
    sec, usec = await r.time()
    return int(sec) * 1000 + int(usec) // 1000


def _client_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


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
) -> dict[str, str]:
    """Create a pool with its own RSA key pair (or trusting external keys). Returns its record."""
    region = pool_id.split("_", 1)[0]
    record: dict[str, str] = {
        "id": pool_id,
        "issuer": issuer or settings.issuer(pool_id),
        "region": region,
        "device_tracking": "1" if device_tracking else "0",
        "clients": orjson.dumps(client_ids or [_client_id()]).decode(),
        "deleted": "0",
        "created_ms": str(await server_ms(r)),
    }
    if jwks is None and jwks_url is None:
        kid, pem, entry = _new_key_pair()
        record.update(kid=kid, private_pem=pem, jwks=orjson.dumps({"keys": [entry]}).decode())
    else:
        record["jwks"] = orjson.dumps(jwks or {"keys": []}).decode()
        if jwks_url:
            record["jwks_url"] = jwks_url
    fields = [item for pair in record.items() for item in pair]
    created = await r.eval(lua.CREATE_POOL.source, 1, keys.pool(pool_id), *fields)
    if not created:
        raise StoreError(f"User pool {pool_id} already exists.")
    await r.sadd(keys.POOLS, pool_id)
    await _bump_version(r)
    return record


async def _bump_version(r: aioredis.Redis) -> None:
    # A fresh random value, not a counter: a counter restarts at 1 after FLUSHALL and a
    # worker that saw the old 1 would miss the change.
    await r.set(keys.POOLS_VERSION, uuid.uuid4().hex)


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


async def update_pool(r: aioredis.Redis, pool_id: str, *, device_tracking: bool) -> None:
    await pool_record(r, pool_id)
    await r.hset(keys.pool(pool_id), "device_tracking", "1" if device_tracking else "0")
    await _bump_version(r)


async def delete_pool(r: aioredis.Redis, pool_id: str) -> None:
    """Mark a pool deleted. Its keys stay, so its tokens still verify and then get
    ResourceNotFoundException, as Cognito answers for a pool that no longer exists."""
    await pool_record(r, pool_id)
    await r.hset(keys.pool(pool_id), "deleted", "1")
    await _bump_version(r)


async def signing_key(r: aioredis.Redis, pool_id: str) -> tuple[Pool, str, Key]:
    """The pool and its private signing key, for minting tokens."""
    record = await pool_record(r, pool_id)
    if "private_pem" not in record:
        raise StoreError(f"User pool {pool_id} trusts external keys only; it cannot mint tokens.")
    return pool_from_record(record), record["kid"], _private_key(record["private_pem"])


@functools.lru_cache(maxsize=64)
def _private_key(pem: str) -> Key:
    # Parsing (and checking) an RSA private key takes tens of milliseconds: once per key.
    return jwk.construct(pem, "RS256")


async def token_minter(r: aioredis.Redis, pool_id: str) -> Callable[..., str]:
    """mint(user, **issue_kwargs): access tokens for `pool_id`'s users, its key parsed once.
    The client id defaults to the pool's first app client."""
    pool, kid, key = await signing_key(r, pool_id)
    default_client = sorted(pool.clients)[0]

    def mint(user: User, *, client_id: str | None = None, **kwargs: Any) -> str:
        return tokens.issue(
            pool=pool,
            signing_kid=kid,
            signing_key=key,
            sub=user.sub,
            username=user.username,
            client_id=client_id or default_client,
            **kwargs,
        )

    return mint


# -- users ---------------------------------------------------------------------------------
async def create_user(
    r: aioredis.Redis,
    pool_id: str,
    username: str,
    *,
    status: str = "CONFIRMED",
    enabled: bool = True,
) -> User:
    await pool_record(r, pool_id)
    sub = str(uuid.uuid4())
    if not await r.hsetnx(keys.pool_usernames(pool_id), username, sub):
        raise StoreError("User account already exists")
    user = User(pool_id, username, sub, status, enabled)
    await r.hset(
        user.keys.user,
        mapping={
            "username": username,
            "sub": sub,
            "status": status,
            "enabled": "1" if enabled else "0",
            "created_ms": str(await server_ms(r)),
        },
    )
    return user


async def get_user(r: aioredis.Redis, pool_id: str, username: str) -> User:
    sub = await r.hget(keys.pool_usernames(pool_id), username)
    if sub is None:
        raise StoreError("User does not exist.")
    raw = _decode(await r.hgetall(keys.UserKeys(pool_id, text(sub)).user))
    if not raw:
        raise StoreError("User does not exist.")
    return User(pool_id, username, raw["sub"], raw["status"], raw.get("enabled", "1") == "1")


async def update_user(
    r: aioredis.Redis,
    pool_id: str,
    username: str,
    *,
    status: str | None = None,
    enabled: bool | None = None,
) -> User:
    user = await get_user(r, pool_id, username)
    changes: dict[str, str] = {}
    if status is not None:
        changes["status"] = status
    if enabled is not None:
        changes["enabled"] = "1" if enabled else "0"
    if changes:
        await r.hset(user.keys.user, mapping=changes)  # type: ignore[arg-type]
    return await get_user(r, pool_id, username)


async def delete_user(r: aioredis.Redis, pool_id: str, username: str) -> None:
    user = await get_user(r, pool_id, username)
    k = user.keys
    device_keys = [text(d) for d in await r.smembers(k.devices)]
    digests = [text(d) for d in await r.zrange(k.claims_index, 0, -1)]  # type: ignore[arg-type]
    # One slot, so this is one atomic multi-key DEL even on a cluster.
    await r.delete(
        k.user,
        k.devices,
        k.revoked,
        k.claims_index,
        *(k.device(d) for d in device_keys),
        *(k.claims(d) for d in digests),
    )
    await r.hdel(keys.pool_usernames(pool_id), username)


async def sign_out_user(r: aioredis.Redis, pool_id: str, username: str) -> int:
    """GlobalSignOut: every token issued to the user until now is revoked. Returns the cut-off."""
    user = await get_user(r, pool_id, username)
    cutoff = await server_ms(r)
    await r.hset(user.keys.user, "signed_out_ms", str(cutoff))
    return cutoff


async def revoke_origin_jti(r: aioredis.Redis, pool_id: str, sub: str, origin_jti: str) -> None:
    """RevokeToken: every token sharing this origin_jti is revoked."""
    k = keys.UserKeys(pool_id, sub)
    if not await r.exists(k.user):
        raise StoreError("User does not exist.")
    await r.sadd(k.revoked, origin_jti)
    # The flag lets the hot-path script skip the set for users with no revocations.
    await r.hset(k.user, "revoked", "1")


# -- devices -------------------------------------------------------------------------------
async def add_device(
    r: aioredis.Redis,
    user: User,
    *,
    name: str | None = None,
    key: str | None = None,
    ip: str = "127.0.0.1",
    remembered: bool = True,
    sdk: str = "aws-sdk",
) -> dict[str, str]:
    """Register a device for `user`; returns its hash fields."""
    region = user.pool_id.split("_", 1)[0]
    device_key = key or f"{region}_{uuid.uuid4()}"
    now_ms = await server_ms(r)
    fields = {
        "key": device_key,
        "name": name or "",
        "status": "valid",
        "remembered": "remembered" if remembered else "not_remembered",
        "last_ip": ip,
        "sdk": sdk,
        "create_ms": str(now_ms),
        "modified_ms": str(now_ms),
        # Cognito reports the last sign-in with whole seconds.
        "last_auth_ms": str(now_ms // 1000 * 1000),
    }
    if not name:
        del fields["name"]
    await r.hset(user.keys.device(device_key), mapping=fields)  # type: ignore[arg-type]
    await r.sadd(user.keys.devices, device_key)
    return fields
