"""Refresh tokens: opaque to clients, as Cognito's are (five-part JWE compact strings).

What a refresh token names (pool, user, client, origin_jti, expiry) is sealed in it with
AES-256-GCM under a key derived from its pool's secret, so only this service can read it and no
one can forge or alter one; what revoking needs is in Redis, in the user's slot
(keys.UserKeys.refresh: origin_jti -> client id). The header and the 256-byte second part
mimic Cognito's RSA-OAEP/A256GCM tokens, so clients that look at the shape see what they expect.
"""

from __future__ import annotations

import binascii
import hashlib
import os
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..model import b64url
from .pool import Pool

_HEADER_TEXT = b64url.encode(orjson.dumps({"cty": "JWT", "enc": "A256GCM", "alg": "RSA-OAEP"}))
_HEADER = _HEADER_TEXT.encode()  # also the sealed part's associated data
# Cognito's refresh tokens live 30 days unless the app client says otherwise.
DEFAULT_TTL_S = 30 * 86400


@dataclass(frozen=True)
class RefreshClaims:
    pool_id: str
    gen: str
    username: str
    sub: str
    client_id: str
    origin_jti: str
    exp: int
    # Sign-in's additions (tokens minted before them carry none): when the token was issued
    # (epoch seconds; a GlobalSignOut after it revokes it), the sign-in's auth_time (kept by
    # every access token refreshed from it) and the device it signed in with.
    iat: int = 0
    auth_time: int = 0
    device_key: str = ""
    # Later additions: when it was issued in ms (sign-outs compare it with theirs; 0 for older
    # tokens, which count from the start of their second `iat`), and its place in its family's
    # rotation (RefreshTokenRotation: each rotation seals the next step; auth_refresh.lua).
    issued_ms: int = 0
    step: int = 0

    def issued(self) -> int:
        """When this token was issued, ms (the start of its second if it says no more)."""
        return self.issued_ms or (self.iat or self.exp - DEFAULT_TTL_S) * 1000


def _key(pool: Pool) -> AESGCM:
    return AESGCM(hashlib.sha256(b"cgd-refresh-token:" + pool.secret).digest())


def seal(pool: Pool, claims: RefreshClaims) -> str:
    """The opaque refresh token for `claims`."""
    iv = os.urandom(12)
    payload = orjson.dumps(
        [claims.pool_id, claims.gen, claims.username, claims.sub, claims.client_id,
         claims.origin_jti, claims.exp, claims.iat, claims.auth_time, claims.device_key,
         claims.issued_ms, claims.step]
    )  # fmt: skip
    sealed = _key(pool).encrypt(iv, payload, _HEADER)
    parts = (os.urandom(256), iv, sealed[:-16], sealed[-16:])
    return ".".join((_HEADER_TEXT, *(b64url.encode(part) for part in parts)))


def unseal(pool: Pool, token: str) -> RefreshClaims | None:
    """What `token` names, if it is a refresh token this pool sealed; None otherwise."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != _HEADER_TEXT:
        return None
    try:
        iv, body, tag = (b64url.decode(part) for part in parts[2:])
        payload = orjson.loads(_key(pool).decrypt(iv, body + tag, _HEADER))
        pool_id, gen, username, sub, client_id, origin_jti, exp = payload[:7]
        iat, auth_time, device_key = payload[7:10] if len(payload) >= 10 else (0, 0, "")
        issued_ms, step = payload[10:12] if len(payload) >= 12 else (0, 0)
        return RefreshClaims(
            pool_id, gen, username, sub, client_id, origin_jti, int(exp),
            int(iat), int(auth_time), str(device_key), int(issued_ms), int(step),
        )  # fmt: skip
    except (binascii.Error, ValueError, InvalidTag, TypeError):
        return None


def looks_like_jwt(token: str) -> bool:
    """An access or ID token (three parts), not a refresh token."""
    return token.count(".") == 2
