"""base64url without padding, as JWTs and the service's other opaque tokens are written."""

from __future__ import annotations

import base64


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(text: str) -> bytes:
    """`text` with or without its padding; binascii.Error (a ValueError) if it is not base64."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
