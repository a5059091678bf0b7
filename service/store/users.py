"""Users in Redis: create, read, update, delete, sign out, revoke, and set their passwords."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis

from ..credentials import srp
from ..credentials.pool import pool_from_record
from ..model import password_policy
from ..redis_io import keys, lua
from . import admin_input
from ._common import InvalidInput, StoreError, _decode, _flat, _run
from .pools import pool_record

USER_STATUSES = admin_input.USER_STATUSES


@dataclass(frozen=True)
class User:
    pool_id: str
    gen: str  # the pool's generation when the user was read
    username: str
    sub: str
    status: str
    enabled: bool

    @property
    def keys(self) -> keys.UserKeys:
        return keys.UserKeys(self.pool_id, self.gen, self.username)


async def _live_gen(r: aioredis.Redis, pool_id: str) -> str:
    return (await pool_record(r, pool_id)).get("gen", "0")


async def create_user(
    r: aioredis.Redis,
    pool_id: str,
    username: str,
    *,
    status: str = "CONFIRMED",
    enabled: bool = True,
    sub: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> User:
    """Create a user. AdminCreateUser also gives `sub` and `extra` fields (`attributes`
    JSON, `srp_salt` and `srp_verifier`)."""
    admin_input.pool_id(pool_id)
    admin_input.username(username)
    admin_input.status(status)
    gen = await _live_gen(r, pool_id)
    sub = sub or str(uuid.uuid4())
    user = User(pool_id, gen, username, sub, status, enabled)
    fields = {
        "username": username,
        "sub": sub,
        "status": status,
        "enabled": "1" if enabled else "0",
        **(extra or {}),
    }
    if not await _run(r, lua.CREATE_USER, [user.keys.user], [sub, *_flat(fields)]):
        raise StoreError("User account already exists")
    return user


async def get_user(r: aioredis.Redis, pool_id: str, username: str) -> User:
    admin_input.pool_id(pool_id)
    admin_input.username(username)
    gen = await _live_gen(r, pool_id)
    raw = _decode(await r.hgetall(keys.UserKeys(pool_id, gen, username).user))
    if not raw.get("sub"):
        raise StoreError("User does not exist.")
    return User(
        pool_id,
        gen,
        username,
        raw["sub"],
        raw.get("status", ""),
        raw.get("enabled") == "1",
    )


async def update_user(
    r: aioredis.Redis,
    pool_id: str,
    username: str,
    *,
    status: str | None = None,
    enabled: bool | None = None,
) -> User:
    """Change a user's status or enabled flag. Disabling revokes every token issued until now
    (the model's AdminDisableUser: "revokes all access tokens"), so enabling again later does
    not bring old tokens back."""
    if status is not None:
        admin_input.status(status)
    user = await get_user(r, pool_id, username)
    changes: dict[str, str] = {}
    if status is not None:
        changes["status"] = status
    if enabled is not None:
        changes["enabled"] = "1" if enabled else "0"
    revoke = "1" if enabled is False else "0"
    if not await _run(r, lua.UPDATE_USER, [user.keys.user], [revoke, *_flat(changes)]):
        raise StoreError("User does not exist.")
    return await get_user(r, pool_id, username)


async def delete_user(r: aioredis.Redis, pool_id: str, username: str) -> None:
    user = await get_user(r, pool_id, username)
    k = user.keys
    script_keys = [k.user, k.devices, k.revoked]
    if not await _run(r, lua.DELETE_USER, script_keys, [k.base]):
        raise StoreError("User does not exist.")


async def sign_out_user(r: aioredis.Redis, pool_id: str, username: str) -> int:
    """GlobalSignOut: every token issued to the user until now is revoked. Returns the cut-off
    (ms, Redis's clock: the one our tokens' iat and the hot path's comparison use)."""
    user = await get_user(r, pool_id, username)
    cutoff = await _run(r, lua.UPDATE_USER, [user.keys.user], ["1"])
    if cutoff is None:
        raise StoreError("User does not exist.")
    return int(cutoff)


async def revoke_origin_jti(
    r: aioredis.Redis, pool_id: str, username: str, sub: str, origin_jti: str
) -> None:
    """RevokeToken: every token sharing this origin_jti is revoked."""
    user = await get_user(r, pool_id, username)
    if user.sub != sub:
        raise StoreError("User does not exist.")
    k = user.keys
    if not await _run(r, lua.REVOKE_ORIGIN, [k.user, k.revoked], [origin_jti]):
        raise StoreError("User does not exist.")


# -- passwords -----------------------------------------------------------------------------
async def set_password(
    r: aioredis.Redis,
    pool_id: str,
    username: str,
    password: str,
    permanent: bool = True,
    *,
    check_policy: bool = True,
) -> User:
    """Give a user a password: only its SRP salt and verifier are stored (`srp_salt`,
    `srp_verifier`, hex), so the SRP and plain-password sign-ins share one secret. Permanent:
    the user becomes CONFIRMED; temporary: FORCE_CHANGE_PASSWORD (the next sign-in must answer
    NEW_PASSWORD_REQUIRED), as AdminSetUserPassword does. The pool's password policy applies
    (InvalidInput with Cognito's message)."""
    admin_input.pool_id(pool_id)
    admin_input.username(username)
    if check_policy:
        policy = pool_from_record(await pool_record(r, pool_id)).password_policy
        problem = password_policy.violation(policy, password)
        if problem is not None:
            raise InvalidInput(problem)
    user = await get_user(r, pool_id, username)
    salt, verifier = srp.password_verifier(pool_id, username, password)
    status = "CONFIRMED" if permanent else "FORCE_CHANGE_PASSWORD"
    fields = {"srp_salt": salt, "srp_verifier": verifier, "status": status}
    if not await _run(r, lua.SET_PASSWORD, [user.keys.user], [user.sub, *_flat(fields)]):
        raise StoreError("User does not exist.")
    return await get_user(r, pool_id, username)


# -- the admin plane (service/ops/admin.py) -------------------------------------------------
async def user_record(
    r: aioredis.Redis, pool_id: str, username: str
) -> tuple[User, dict[str, str]]:
    """A user and their whole hash (StoreError "User does not exist." when there is none)."""
    gen = await _live_gen(r, pool_id)
    raw = _decode(await r.hgetall(keys.UserKeys(pool_id, gen, username).user))
    if not raw.get("sub"):
        raise StoreError("User does not exist.")
    user = User(
        pool_id, gen, username, raw["sub"], raw.get("status", ""), raw.get("enabled") == "1"
    )
    return user, raw


async def set_user_fields(
    r: aioredis.Redis, user: User, fields: Mapping[str, str], *, revoke: bool = False
) -> None:
    """Set fields of an existing user (modified_ms becomes now); `revoke` signs them out."""
    args = ["1" if revoke else "0", *_flat(fields)]
    if not await _run(r, lua.UPDATE_USER, [user.keys.user], args):
        raise StoreError("User does not exist.")
