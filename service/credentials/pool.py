"""One user pool as the server sees it (Pool), parsed from its Redis record (pool_from_record);
pools.py's PoolRegistry holds them all."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from jose.backends.base import Key

from ..model import b64url, clients
from ..model.clients import AppClient
from ..model.password_policy import DEFAULT as DEFAULT_POLICY
from ..model.password_policy import Policy
from ..model.password_policy import parse as parse_policy
from . import jwks

POOL_ID_RE = re.compile(r"[\w-]+_[0-9a-zA-Z]+", re.ASCII)
POOL_ID_MAX = 55
GEN_RE = re.compile(r"[0-9a-f]{1,32}")


def text(value: bytes | str) -> str:
    """redis-py answers bytes (or str, by its typing); pools speak str."""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Pool:
    """One user pool: its issuer, app clients, device-tracking flag and parsed public keys."""

    id: str
    issuer: str
    region: str
    # New each time this id is created: every key of the pool's users carries it, so nothing
    # (users, devices, cached claims) of a deleted pool is reachable from its successor.
    gen: str = "0"
    device_tracking: bool = True
    clients: frozenset[str] = frozenset()
    app_clients: Mapping[str, AppClient] = field(default_factory=dict)
    deleted: bool = False
    # The pool trusts keys it did not make (a file or URL): their tokens' iat comes from
    # another clock, so sign-out cut-offs allow for skew (see get_device.lua).
    external: bool = False
    keys: Mapping[str, Key] = field(default_factory=dict)
    jwks: bytes = b'{"keys":[]}'
    # DeviceConfiguration: ChallengeRequiredOnNewDevice, DeviceOnlyRememberedOnUserPrompt.
    challenge_on_new_device: bool = False
    remember_on_prompt: bool = False
    # Signs what the pool hands out opaque (pagination tokens, refresh tokens).
    secret: bytes = b""
    # The pool's own private keys (PEM), for sign-in: access tokens with `kid`, ID tokens with
    # `id_kid` (real pools sign them with different keys). Empty for pools trusting outside keys;
    # a pool made before ID keys existed signs ID tokens with its access key.
    kid: str = ""
    private_pem: str = field(default="", repr=False)
    id_kid: str = ""
    id_private_pem: str = field(default="", repr=False)
    password_policy: Policy = DEFAULT_POLICY


def valid_pool_id(pool_id: str) -> bool:
    return len(pool_id) <= POOL_ID_MAX and POOL_ID_RE.fullmatch(pool_id) is not None


def pool_from_record(record: Mapping[str, str], external_jwks: Any = None) -> Pool:
    """Build a Pool from its Redis hash (and, for a JWKS URL, the fetched document).

    Raises ValueError (JwksError is one) on any malformed member: the caller skips the record.
    """
    pool_id = record["id"]
    if not valid_pool_id(pool_id):
        raise ValueError(f"invalid pool id {pool_id!r}")
    gen = record.get("gen", "0")
    if not GEN_RE.fullmatch(gen):
        raise ValueError(f"invalid generation {gen!r}")
    issuer = record["issuer"]
    if not isinstance(issuer, str) or not issuer:
        raise ValueError("empty issuer")
    app_clients = clients.parse(orjson.loads(record.get("clients") or "[]"))
    docs = [jwks.validate(orjson.loads(record.get("jwks") or '{"keys":[]}'), min_keys=0)]
    if external_jwks is not None:
        docs.append(external_jwks)
    parsed: dict[str, Key] = {}
    for doc in docs:
        parsed.update(jwks.parse(doc))
    return Pool(
        id=pool_id,
        issuer=issuer,
        region=record.get("region") or pool_id.split("_", 1)[0],
        gen=gen,
        device_tracking=record.get("device_tracking", "1") == "1",
        clients=frozenset(app_clients),
        app_clients=app_clients,
        deleted=record.get("deleted", "0") == "1",
        external="private_pem" not in record,
        keys=parsed,
        jwks=jwks.public_json(docs),
        challenge_on_new_device=record.get("device_challenge", "0") == "1",
        remember_on_prompt=record.get("device_remember_on_prompt", "0") == "1",
        secret=_secret(record, pool_id, gen),
        kid=record.get("kid", ""),
        private_pem=record.get("private_pem", ""),
        id_kid=record.get("id_kid") or record.get("kid", ""),
        id_private_pem=record.get("id_private_pem") or record.get("private_pem", ""),
        password_policy=(
            parse_policy(orjson.loads(record["password_policy"]))
            if record.get("password_policy")
            else DEFAULT_POLICY
        ),
    )


def _secret(record: Mapping[str, str], pool_id: str, gen: str) -> bytes:
    if "secret" in record:
        return bytes.fromhex(record["secret"])  # ValueError on a malformed one: skipped
    # A record another system wrote without one: derived, so every worker agrees on it.
    return hashlib.sha256(f"cgd-pool-secret:{pool_id}:{gen}:{record['issuer']}".encode()).digest()


def token_header(kid: str) -> str:
    """The base64url header of an access token signed with `kid`: Cognito's, byte for byte."""
    return b64url.encode(orjson.dumps({"kid": kid, "alg": "RS256"}))
