"""App clients of a user pool: what a client may do and how long its tokens live.

Stored in the pool record's `clients` field as a JSON list. Each item is an object with the
members below (CreateUserPoolClient's names), or, as older records and `pool create
--client-id` write them, a bare client id string: a client with every default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# What CreateUserPoolClient enables when ExplicitAuthFlows is not given (the API Reference:
# "If you don't specify a value for ExplicitAuthFlows, your user client supports
# ALLOW_REFRESH_TOKEN_AUTH, ALLOW_USER_SRP_AUTH, and ALLOW_CUSTOM_AUTH").
DEFAULT_FLOWS = ("ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH")
# CreateUserPoolClient's defaults: access and ID tokens 60 minutes, refresh tokens 30 days,
# auth sessions 3 minutes.
DEFAULT_ACCESS_S = 3600
DEFAULT_ID_S = 3600
DEFAULT_REFRESH_S = 30 * 86400
DEFAULT_AUTH_SESSION_MIN = 3


@dataclass(frozen=True)
class AppClient:
    """One app client. Token lifetimes are in seconds, already converted from the client's
    TokenValidityUnits."""

    id: str
    name: str = ""
    secret: str | None = None
    explicit_auth_flows: tuple[str, ...] = DEFAULT_FLOWS
    access_token_s: int = DEFAULT_ACCESS_S
    id_token_s: int = DEFAULT_ID_S
    refresh_token_s: int = DEFAULT_REFRESH_S
    auth_session_min: int = DEFAULT_AUTH_SESSION_MIN
    enable_token_revocation: bool = True
    # PreventUserExistenceErrors ENABLED: an unknown user is answered as a wrong password is
    # (the developer guide, "Managing user existence error responses").
    prevent_user_existence_errors: bool = False
    # RefreshTokenRotation: Feature ENABLED makes every refresh return a new refresh token; the
    # old one keeps working for RetryGracePeriodSeconds (0-60) and is refused after.
    refresh_rotation: bool = False
    retry_grace_s: int = 0
    # Members stored as given (CallbackURLs, AllowedOAuthFlows, ...): DescribeUserPoolClient
    # gives them back.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def allows(self, flow: str) -> bool:
        """Whether ExplicitAuthFlows admits `flow` (ALLOW_X, or its legacy name X)."""
        legacy = flow.removeprefix("ALLOW_")
        return flow in self.explicit_auth_flows or legacy in self.explicit_auth_flows

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["explicit_auth_flows"] = list(self.explicit_auth_flows)
        doc["extra"] = dict(self.extra)
        return doc


def parse(raw: Any) -> dict[str, AppClient]:
    """The clients of a record's `clients` JSON value, by id. ValueError when malformed."""
    if not isinstance(raw, list):
        raise ValueError("clients must be a JSON list")
    clients: dict[str, AppClient] = {}
    for item in raw:
        client = _client(item)
        clients[client.id] = client
    return clients


def _client(item: Any) -> AppClient:
    if isinstance(item, str):
        return AppClient(id=item)
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise ValueError("each client must be an id or an object with a string id")
    flows = item.get("explicit_auth_flows", list(DEFAULT_FLOWS))
    if not isinstance(flows, list) or not all(isinstance(f, str) for f in flows):
        raise ValueError("explicit_auth_flows must be a list of strings")
    ints = {}
    for name in ("access_token_s", "id_token_s", "refresh_token_s", "auth_session_min"):
        value = item.get(name, getattr(AppClient, name))
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer")
        ints[name] = value
    secret = item.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise ValueError("secret must be a string")
    extra = item.get("extra", {})
    if not isinstance(extra, dict):
        raise ValueError("extra must be an object")
    grace = item.get("retry_grace_s", 0)
    if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 60:
        raise ValueError("retry_grace_s must be an integer from 0 to 60")
    return AppClient(
        id=item["id"],
        name=str(item.get("name", "")),
        secret=secret,
        explicit_auth_flows=tuple(flows),
        enable_token_revocation=bool(item.get("enable_token_revocation", True)),
        # Records written before it had a field of its own kept it as given, in `extra`.
        prevent_user_existence_errors=bool(
            item.get(
                "prevent_user_existence_errors",
                extra.get("PreventUserExistenceErrors") == "ENABLED",
            )
        ),
        refresh_rotation=bool(item.get("refresh_rotation", False)),
        retry_grace_s=grace,
        extra=extra,
        **ints,
    )
