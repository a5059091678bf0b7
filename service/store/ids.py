"""Random ids and secrets in Cognito's and AWS's shapes (pool ids, app client ids and secrets)."""

from __future__ import annotations

import secrets
import string

_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits


def _client_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


def new_pool_id(region: str) -> str:
    """A pool id in Cognito's format: `<region>_<9 alphanumerics>`."""
    return region + "_" + "".join(secrets.choice(_ALNUM) for _ in range(9))


def new_client_id() -> str:
    """An app client id in Cognito's format: 26 lowercase alphanumerics."""
    return _client_id()


def new_client_secret() -> str:
    """An app client secret as Cognito's look: 51 or 52 lowercase alphanumerics."""
    return "".join(secrets.choice(_LOWER_ALNUM) for _ in range(51 + secrets.randbelow(2)))
