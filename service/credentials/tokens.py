"""Access tokens: verification as AWS documents it, and issuing tokens shaped like Cognito's."""

from __future__ import annotations

import binascii
import functools
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from jose import jwk
from jose.backends.base import Key

from ..model import b64url
from ..model.errors import EXPIRED_TOKEN, INVALID_TOKEN, MISSING_SCOPE, NotAuthorizedException
from .pool import Pool, token_header
from .pools import PoolRegistry

ADMIN_SCOPE = "aws.cognito.signin.user.admin"
ALGORITHMS = ["RS256"]


class UnknownSigner(NotAuthorizedException):
    """A token naming an issuer, kid or client that this worker's pools do not hold (yet)."""

    type_name = "NotAuthorizedException"


@dataclass(frozen=True, slots=True)
class Claims:
    """The claims of an access token whose signature has been verified."""

    pool: Pool
    sub: str
    username: str
    exp: int
    iat: int
    origin_jti: str
    raw: bytes  # the payload JSON, as cached in Redis
    # When it was issued, as the claims cache keeps it: "<iat>.<ms>" when the token says to
    # the millisecond (a jti minted by issue(issued_ms=...)), else "<iat>" (see issued_text).
    issued: str


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
# A fresh SHA-256 context to copy: hashlib.sha256() fetches the digest by name from OpenSSL 3
# on every call (py_evp_fromname); copy() only duplicates a context. Under load at 40,000
# tokens, libcrypto's share of a request fell from 0.69 to 0.56 us (perf).
_SHA256 = hashlib.sha256()


def digest(token: str) -> str:
    """The claims-cache key part for `token`: a digest of the whole token, 128 bits in 22
    base64url characters (every active user has such a key: its length is memory).

    SHA-256 cut to 128 bits: of the digests hashlib offers it costs the least for a 1 KB
    token (it runs on every miss of the worker's route cache; BLAKE2b cost 40 % more)."""
    sha = _SHA256.copy()
    sha.update(token.encode())
    return (
        binascii.b2a_base64(sha.digest()[:16], newline=False)[:22].translate(_TO_URLSAFE).decode()
    )


def verify(token: str, registry: PoolRegistry, now: float | None = None) -> Claims:
    """Verify an access token in the order AWS documents; raise NotAuthorizedException."""
    parts = token.split(".")
    if len(parts) != 3:
        raise NotAuthorizedException(INVALID_TOKEN)
    try:
        header = orjson.loads(b64url.decode(parts[0]))
        raw = b64url.decode(parts[1])
        payload = orjson.loads(raw)
        signature = b64url.decode(parts[2])
    except (ValueError, binascii.Error):
        raise NotAuthorizedException(INVALID_TOKEN) from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise NotAuthorizedException(INVALID_TOKEN)
    # The issuer names the pool, and so the only keys this token may be checked against.
    iss, kid = payload.get("iss"), header.get("kid")
    pool = registry.by_issuer.get(iss) if isinstance(iss, str) else None
    if pool is None:
        raise UnknownSigner(INVALID_TOKEN)
    if header.get("alg") not in ALGORITHMS:
        raise NotAuthorizedException(INVALID_TOKEN)
    key = pool.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise UnknownSigner(INVALID_TOKEN)
    # The algorithm is fixed, never taken from the token: each key was built for RS256 alone
    # (jwk.construct(..., "RS256") in pools.py), and a header naming anything else is refused
    # above. These are the checks jws.verify(token, key, algorithms=ALGORITHMS) makes, without
    # decoding the whole token a second time (a quarter of a cold request's verification).
    try:
        verified = key.verify(f"{parts[0]}.{parts[1]}".encode(), signature)
    except Exception:  # any failure to verify is a refusal, never a 500 (jws.verify did so too)
        verified = False
    if not verified:
        raise NotAuthorizedException(INVALID_TOKEN)
    return _check_claims(payload, pool, raw, now)


def _check_claims(payload: dict[str, Any], pool: Pool, raw: bytes, now: float | None) -> Claims:
    exp, iat = payload.get("exp"), payload.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise NotAuthorizedException(INVALID_TOKEN)
    if isinstance(exp, bool) or isinstance(iat, bool):  # JSON true is an int to Python
        raise NotAuthorizedException(INVALID_TOKEN)
    if exp <= (time.time() if now is None else now):
        raise NotAuthorizedException(EXPIRED_TOKEN)
    if payload.get("token_use") != "access":
        raise NotAuthorizedException(INVALID_TOKEN)
    client_id = payload.get("client_id")
    if not isinstance(client_id, str):
        raise NotAuthorizedException(INVALID_TOKEN)
    if client_id not in pool.clients:
        raise UnknownSigner(INVALID_TOKEN)  # verified, but perhaps of a client added just now
    scope = payload.get("scope")
    if not isinstance(scope, str) or ADMIN_SCOPE not in scope.split(" "):
        raise NotAuthorizedException(MISSING_SCOPE)
    sub, username = payload.get("sub"), payload.get("username")
    if not isinstance(sub, str) or not sub or not isinstance(username, str) or not username:
        raise NotAuthorizedException(INVALID_TOKEN)
    origin_jti = payload.get("origin_jti")
    return Claims(
        pool=pool,
        sub=sub,
        username=username,
        exp=exp,
        iat=iat,
        origin_jti=origin_jti if isinstance(origin_jti, str) else "",
        raw=raw,
        issued=str(iat) if pool.external else issued_text(iat, payload.get("jti")),
    )


def uuid7(ms: int) -> str:
    """A UUID version 7 (RFC 9562) whose timestamp is `ms`: the jti of the tokens sign-in
    mints, so the token itself says when, to the millisecond, it was issued."""
    value = (ms & 0xFFFFFFFFFFFF) << 80 | 0x7 << 76 | secrets.randbits(12) << 64
    return str(uuid.UUID(int=value | 0b10 << 62 | secrets.randbits(62)))


def issued_text(iat: int, jti: object) -> str:
    """When a token of one of this service's own pools was issued, for the session's sign-out
    check: "<iat>.<ms>" when its jti is a UUIDv7 of that second, or "<iat>" alone.

    `iat` has whole seconds, so a sign-out in the same second as a token cannot tell before
    from after by it. Sign-in mints its tokens' jti as a UUIDv7 stamped with the issuing
    script's Redis time, which is always later than the user's last sign-out (auth_ok.lua):
    the session compares milliseconds. A token without one (minted by the CLI, or by another
    system) counts from the start of its second: revoked by any sign-out in that second."""
    if isinstance(jti, str) and len(jti) == 36 and jti[14] == "7":
        try:
            ms = int(jti[:8] + jti[9:13], 16)
        except ValueError:
            return str(iat)
        if ms // 1000 == iat:
            return f"{iat}.{ms % 1000:03d}"
    return str(iat)


def issue(
    *,
    pool: Pool,
    signing_kid: str,
    signing_key: Key,
    sub: str,
    username: str,
    client_id: str,
    scopes: list[str] | None = None,
    ttl_s: int = 3600,
    device_key: str | None = None,
    groups: list[str] | None = None,
    now: int | None = None,
    origin_jti: str | None = None,
    event_id: str | None = None,
    auth_time: int | None = None,
    issued_ms: int | None = None,
    revocable: bool = True,
) -> str:
    """Mint an access token with the claims, claim order and header of a real Cognito one.

    `issued_ms`: the issuing script's Redis time; it sets iat and makes the jti a UUIDv7 of it
    (issued_text). `revocable=False` (an app client with EnableTokenRevocation off): no
    origin_jti claim, as AWS documents for such clients."""
    if issued_ms is not None:
        now = issued_ms // 1000
    iat = int(time.time()) if now is None else now
    claims: dict[str, Any] = {"sub": sub}
    if device_key:
        claims["device_key"] = device_key
    if groups:
        claims["cognito:groups"] = groups
    claims.update(
        {
            "iss": pool.issuer,
            "client_id": client_id,
            "origin_jti": origin_jti or str(uuid.uuid4()),
            "event_id": event_id or str(uuid.uuid4()),
            "token_use": "access",
            "scope": " ".join(scopes if scopes is not None else [ADMIN_SCOPE]),
            "auth_time": iat if auth_time is None else auth_time,
            "exp": iat + ttl_s,
            "iat": iat,
            "jti": str(uuid.uuid4()) if issued_ms is None else uuid7(issued_ms),
            "username": username,
        }
    )
    if not revocable:
        del claims["origin_jti"]
    signing_input = f"{token_header(signing_kid)}.{b64url.encode(orjson.dumps(claims))}"
    signature = signing_key.sign(signing_input.encode())
    return f"{signing_input}.{b64url.encode(signature)}"


def issue_id(
    *,
    pool: Pool,
    signing_kid: str,
    signing_key: Key,
    sub: str,
    username: str,
    client_id: str,
    origin_jti: str,
    event_id: str,
    auth_time: int,
    now: int,
    ttl_s: int = 3600,
    groups: list[str] | None = None,
    revocable: bool = True,
) -> str:
    """Mint an ID token with a real Cognito one's claims and order (a pool with no attributes:
    no email or phone claims), signed with the pool's ID-token key; without origin_jti for a
    client with EnableTokenRevocation off."""
    claims: dict[str, Any] = {"sub": sub}
    if groups:
        claims["cognito:groups"] = groups
    claims.update(
        {
            "iss": pool.issuer,
            "cognito:username": username,
            "origin_jti": origin_jti,
            "aud": client_id,
            "event_id": event_id,
            "token_use": "id",
            "auth_time": auth_time,
            "exp": now + ttl_s,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
    )
    if not revocable:
        del claims["origin_jti"]
    signing_input = f"{token_header(signing_kid)}.{b64url.encode(orjson.dumps(claims))}"
    return f"{signing_input}.{b64url.encode(signing_key.sign(signing_input.encode()))}"


@functools.lru_cache(maxsize=256)
def private_key(pem: str) -> Key:
    """A pool's private signing key, parsed once (parsing and checking an RSA key costs tens of
    milliseconds)."""
    return jwk.construct(pem, "RS256")
