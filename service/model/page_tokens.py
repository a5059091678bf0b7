"""Device-list pagination tokens: an opaque page boundary (the last device's creation time and
key), signed with the pool's secret for one scope (a user, as the user's or the admin's list),
so a token cannot be forged, altered or replayed by another user or in the other list."""

from __future__ import annotations

import binascii
import hashlib
import hmac

import orjson

from . import b64url
from . import errors as e


def _mac(secret: bytes, scope: str, payload: str) -> bytes:
    return hmac.new(secret, f"{scope}:{payload}".encode(), hashlib.sha256).digest()[:16]


def seal(secret: bytes, scope: str, after_ms: int, after_key: str) -> str:
    payload = b64url.encode(orjson.dumps([after_ms, after_key]))
    mac = b64url.encode(_mac(secret, scope, payload))
    return f"{payload}.{mac}"


def open_(secret: bytes, scope: str, token: str) -> tuple[int, str]:
    """The boundary `seal` put in `token`; InvalidParameterException for any other token."""
    invalid = e.InvalidParameterException("Invalid pagination token.")
    payload, _, mac = token.partition(".")
    try:
        given = b64url.decode(mac)
        if not hmac.compare_digest(given, _mac(secret, scope, payload)):
            raise invalid
        after_ms, after_key = orjson.loads(b64url.decode(payload))
    except (binascii.Error, ValueError, TypeError):
        raise invalid from None
    if not isinstance(after_ms, int) or not isinstance(after_key, str):
        raise invalid
    return after_ms, after_key
