"""Checks on what operators give the control plane, with the botocore model's constraints.

Each check returns the value or raises InvalidInput with one line that names the input and says
what is wrong with it. tests/test_admin_input.py checks the constraints against the installed
model, so they cannot drift.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

from ..credentials import jwks
from ..credentials.pool import POOL_ID_MAX, POOL_ID_RE

# Cognito's UserStatusType, in the model's order.
USER_STATUSES = (
    "UNCONFIRMED",
    "CONFIRMED",
    "ARCHIVED",
    "COMPROMISED",
    "UNKNOWN",
    "RESET_REQUIRED",
    "FORCE_CHANGE_PASSWORD",
    "EXTERNAL_PROVIDER",
)
_CLIENT_ID_RE = re.compile(r"[\w+]+", re.ASCII)
_DEVICE_KEY_RE = re.compile(r"[\w-]+_[0-9a-f-]+", re.ASCII)
# Access tokens live at most a day in Cognito (the app client's AccessTokenValidity range).
MAX_TTL_S = 86400


class StoreError(Exception):
    """An admin request that cannot be done (unknown user, duplicate pool, bad input, ...)."""


class InvalidInput(StoreError, ValueError):
    """An operator's input that breaks the model's constraints; the message is one line."""


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _length(what: str, value: str, low: int, high: int) -> None:
    if not low <= len(value) <= high:
        raise InvalidInput(
            f"{what} {_shown(value)} must be {low} to {high} characters long, not {len(value)}"
        )


def username(value: str) -> str:
    """UsernameType: 1-128 characters, each a letter, mark, symbol, number or punctuation."""
    _length("username", value, 1, 128)
    for ch in value:
        # [\p{L}\p{M}\p{S}\p{N}\p{P}]: Python's re has no \p, the categories say the same.
        if unicodedata.category(ch)[0] not in "LMSNP":
            raise InvalidInput(
                f"username {_shown(value)} may hold only letters, marks, symbols, numbers and "
                f"punctuation (not {ch!r})"
            )
    return value


def pool_id(value: str) -> str:
    """UserPoolIdType: <region>_<alphanumerics>, at most 55 characters."""
    _length("user pool id", value, 1, POOL_ID_MAX)
    if not POOL_ID_RE.fullmatch(value):
        raise InvalidInput(
            f"user pool id {_shown(value)} must match [\\w-]+_[0-9a-zA-Z]+ "
            "(for example us-east-1_EXAMPLE)"
        )
    return value


def client_id(value: str) -> str:
    """ClientIdType: 1-128 of [\\w+]."""
    _length("client id", value, 1, 128)
    if not _CLIENT_ID_RE.fullmatch(value):
        raise InvalidInput(f"client id {_shown(value)} must match [\\w+]+")
    return value


def device_key(value: str) -> str:
    """DeviceKeyType: <region>_<uuid>, at most 55 characters."""
    _length("device key", value, 1, 55)
    if not _DEVICE_KEY_RE.fullmatch(value):
        raise InvalidInput(
            f"device key {_shown(value)} must match [\\w-]+_[0-9a-f-]+ "
            "(for example us-east-1_07032954-25bf-4781-b596-9d675d901072)"
        )
    return value


def device_name(value: str) -> str:
    """DeviceNameType: 1-1024 characters."""
    _length("device name", value, 1, 1024)
    return value


def ip(value: str) -> str:
    """An IPv4 or IPv6 address, in its normal form (an IPv4-mapped one as IPv4)."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidInput(f"IP address {_shown(value)} is not an IPv4 or IPv6 address") from None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def status(value: str) -> str:
    if value not in USER_STATUSES:
        raise InvalidInput(f"user status {_shown(value)} must be one of {', '.join(USER_STATUSES)}")
    return value


def issuer(value: str) -> str:
    """An absolute http(s) URL with a host and no query or fragment, as `iss` claims are."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise InvalidInput(
            f"issuer {_shown(value)} must be an absolute http(s) URL without query or fragment"
        )
    if any(ch.isspace() for ch in value) or len(value) > 2048:
        raise InvalidInput(
            f"issuer {_shown(value)} must have no spaces and at most 2048 characters"
        )
    return value


def jwks_url(value: str) -> str:
    try:
        return jwks.check_url(value)
    except jwks.JwksError as exc:
        raise InvalidInput(str(exc)) from None


def ttl_s(value: int) -> int:
    if not 1 <= value <= MAX_TTL_S:
        raise InvalidInput(f"token lifetime {value} s must be 1 to {MAX_TTL_S} seconds")
    return value
