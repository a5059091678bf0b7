"""Admin reads and writes of pools, users and devices (redis-py; never on the hot path)."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import secrets
import string
import time
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
from redis.exceptions import NoScriptError

from . import admin_input, keys, lua, password_policy, refresh, srp, tokens
from . import jwks as jwks_doc
from .pools import Pool, pool_from_record, text
from .settings import Settings
from .transport import Script

USER_STATUSES = admin_input.USER_STATUSES
# Keys per SCAN page and per UNLINK batch when sweeping a deleted pool's data.
SWEEP_PAGE = 500


StoreError = admin_input.StoreError
InvalidInput = admin_input.InvalidInput


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


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}


async def server_ms(r: aioredis.Redis) -> int:
    """Redis server time in ms: the one clock the hot-path script compares against."""
    sec, usec = await r.time()
    return int(sec) * 1000 + int(usec) // 1000


def _client_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


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


async def _run(r: aioredis.Redis, script: Script, script_keys: list[str], args: list[Any]) -> Any:
    """Run an admin script by its SHA1, loading it on first use (or after a Redis restart)."""
    try:
        return await r.evalsha(script.sha, len(script_keys), *script_keys, *args)
    except NoScriptError:
        return await r.eval(script.source, len(script_keys), *script_keys, *args)


def _flat(fields: Mapping[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def _version() -> str:
    # A fresh random value, not a counter: a counter restarts at 1 after FLUSHALL and a
    # worker that saw the old 1 would miss the change.
    return uuid.uuid4().hex


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
    removed = 0
    batch: list[Any] = []
    async for key in r.scan_iter(match=keys.pool_users_pattern(pool_id), count=SWEEP_PAGE):
        if keep is not None and text(key).startswith(keep):
            continue
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
    # iat comes from Redis's clock (the one sign-out cut-offs are taken from), so a sign-out
    # revokes every token minted before it whatever this machine's clock says. Measured once:
    # minting thousands of tokens must not cost a round trip each.
    offset_s = await server_ms(r) / 1000 - time.time()

    def server_s() -> int:
        return int(time.time() + offset_s)

    def mint(user: User, *, client_id: str | None = None, **kwargs: Any) -> str:
        kwargs.setdefault("now", server_s())
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


async def mint_refresh(
    r: aioredis.Redis,
    pool_id: str,
    user: User,
    *,
    client_id: str,
    origin_jti: str,
    ttl_s: int = refresh.DEFAULT_TTL_S,
) -> str:
    """A refresh token for `user` and `client_id`, sharing `origin_jti` with the access tokens
    minted with it (RevokeToken revokes them together)."""
    record = await pool_record(r, pool_id)
    pool = pool_from_record(record)
    if client_id not in pool.clients:
        raise StoreError(f"Client {client_id} is not an app client of user pool {pool_id}.")
    claims = refresh.RefreshClaims(
        pool_id=pool_id,
        gen=pool.gen,
        username=user.username,
        sub=user.sub,
        client_id=client_id,
        origin_jti=origin_jti,
        exp=int(await server_ms(r) / 1000) + ttl_s,
    )
    k = user.keys
    if not await _run(r, lua.ISSUE_REFRESH, [k.user, k.refresh], [origin_jti, client_id]):
        raise StoreError("User does not exist.")
    return refresh.seal(pool, claims)


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
_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits


def new_pool_id(region: str) -> str:
    """A pool id in Cognito's format: `<region>_<9 alphanumerics>`."""
    return region + "_" + "".join(secrets.choice(_ALNUM) for _ in range(9))


def new_client_id() -> str:
    """An app client id in Cognito's format: 26 lowercase alphanumerics."""
    return _client_id()


def new_client_secret() -> str:
    """An app client secret as Cognito's look: 51 or 52 lowercase alphanumerics."""
    return "".join(secrets.choice(_LOWER_ALNUM) for _ in range(51 + secrets.randbelow(2)))


async def ensure_admin_credentials(r: aioredis.Redis) -> dict[str, str]:
    """The admin credentials kept in Redis (ADMIN_CREDENTIALS unset): one pair is made the
    first time, in AWS's shapes (`AKIA` + 16, 40 characters of secret)."""
    stored = _decode(await r.hgetall(keys.ADMIN_CREDENTIALS))
    if stored:
        return stored
    upper = string.ascii_uppercase + string.digits
    key_id = "AKIA" + "".join(secrets.choice(upper) for _ in range(16))
    secret = "".join(secrets.choice(_ALNUM) for _ in range(40))
    # HSETNX of a fresh id always sets; two processes racing both add a pair, both valid.
    await r.hsetnx(keys.ADMIN_CREDENTIALS, key_id, secret)
    return _decode(await r.hgetall(keys.ADMIN_CREDENTIALS))


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
    return bool(answer == 1)


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
