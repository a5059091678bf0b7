"""Sign-in's opaque session handles: what the client holds for a challenge (Session,
SECRET_BLOCK) is the user's name, the session's id and the responses answered so far, sealed
with the pool's secret (AES-GCM), so it can be neither read nor forged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..credentials.pool import Pool


def _session_cipher(pool: Pool) -> AESGCM:
    return AESGCM(hashlib.sha256(b"cgd-auth-session:" + pool.secret).digest())


def seal_session(pool: Pool, username: str, session_id: str, responses: int) -> str:
    """What the client holds for a challenge (Session, SECRET_BLOCK): opaque, unforgeable."""
    nonce = os.urandom(12)
    payload = orjson.dumps([username, session_id, responses])
    return base64.b64encode(nonce + _session_cipher(pool).encrypt(nonce, payload, None)).decode()


def open_session(pool: Pool, handle: str) -> tuple[str, str, int] | None:
    """(username, session id, responses so far) of a handle this pool sealed, or None."""
    try:
        raw = base64.b64decode(handle, validate=True)
        payload = orjson.loads(_session_cipher(pool).decrypt(raw[:12], raw[12:], None))
        username, session_id, responses = payload
    except (binascii.Error, ValueError, InvalidTag, TypeError):
        return None
    if not isinstance(username, str) or not isinstance(session_id, str):
        return None
    return username, session_id, int(responses)
