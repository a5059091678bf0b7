"""base64url without padding, as JWTs and the service's other opaque tokens are written."""

from __future__ import annotations

import base64


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(text: str, strict: bool = False) -> bytes:
    """`text` with or without its padding; binascii.Error (a ValueError) if it is not base64.
    Not strict, characters outside the alphabet are dropped; strict, they are an error."""
    padded = text + "=" * (-len(text) % 4)
    if strict:
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    return base64.urlsafe_b64decode(padded)
