"""An app client between the wire and its AppClient (service/model/clients.py): the
CreateUserPoolClient and UpdateUserPoolClient shapes, the AppClient a body describes
(client_from_body) and the UserPoolClientType shown for one (client_view)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..model import clients as app_clients
from ..model import errors as e
from ..model.validation import IntMember, StringMember, StructMember
from .admin import POOL_ID, bool_member, date

CLIENT_ID = StringMember(
    "ClientId", required=True, min_len=1, max_len=128, pattern=r"[\w+]+", sensitive=True
)
UNITS = ("seconds", "minutes", "hours", "days")
_UNIT_S = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
CREATE_CLIENT = (
    POOL_ID,
    StringMember("ClientName", required=True, min_len=1, max_len=128, pattern=r"[\w\s+=,.@-]+"),
    StringMember("ClientSecret", min_len=24, max_len=64, pattern=r"[\w+]+", sensitive=True),
    IntMember("RefreshTokenValidity", min_value=0, max_value=315360000),
    IntMember("AccessTokenValidity", min_value=1, max_value=86400),
    IntMember("IdTokenValidity", min_value=1, max_value=86400),
    StructMember(
        "TokenValidityUnits",
        tuple(StringMember(n, enum=UNITS) for n in ("AccessToken", "IdToken", "RefreshToken")),
    ),
    IntMember("AuthSessionValidity", min_value=3, max_value=15),
    StringMember("PreventUserExistenceErrors", enum=("LEGACY", "ENABLED")),
    StructMember(
        "RefreshTokenRotation",
        (
            StringMember("Feature", required=True, enum=("ENABLED", "DISABLED")),
            IntMember("RetryGracePeriodSeconds", min_value=0, max_value=60),
        ),
    ),
)
# What the stored `extra` holds besides KEPT_MEMBERS that DescribeUserPoolClient shows.
_VIEWED = frozenset({"RefreshTokenRotation"})
# UpdateUserPoolClient: the same members, the client named, no secret to choose.
UPDATE_CLIENT = (
    POOL_ID,
    CLIENT_ID,
    dataclasses.replace(CREATE_CLIENT[1], required=False),
    *(m for m in CREATE_CLIENT[3:]),
)
AUTH_FLOWS = (
    "ADMIN_NO_SRP_AUTH",
    "CUSTOM_AUTH_FLOW_ONLY",
    "USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_AUTH",
    "ALLOW_TOKEN_EXCHANGE_DELEGATION",
    "ALLOW_TOKEN_EXCHANGE_IMPERSONATION",
)
# The model's CreateUserPoolClient and UpdateUserPoolClient members this service keeps as given
# (DescribeUserPoolClient gives them back); the others it handles itself, and a member the
# model does not list is dropped. tests/test_admin_model.py checks these against the model.
KEPT_MEMBERS = frozenset(
    {
        "ReadAttributes", "WriteAttributes", "SupportedIdentityProviders", "CallbackURLs",
        "LogoutURLs", "DefaultRedirectURI", "AllowedOAuthFlows", "AllowedOAuthScopes",
        "AllowedOAuthFlowsUserPoolClient", "AnalyticsConfiguration",
        "EnablePropagateAdditionalUserContextData", "PublishSecretsInAWSSecretsManager",
    }
)  # fmt: skip
# Cognito's token validity limits (API Reference, CreateUserPoolClient): access and ID tokens
# 5 minutes to 1 day, refresh tokens 60 minutes to 10 years.
_LIMITS_S = {
    "AccessToken": (300, 86400),
    "IdToken": (300, 86400),
    "RefreshToken": (3600, 315360000),
}
# Defaults: tokens 60 minutes, refresh tokens 30 days (units as DescribeUserPoolClient shows
# them for a client created without any).
_DEFAULT_VALIDITY = {"AccessToken": (60, "minutes"), "IdToken": (60, "minutes")}
_DEFAULT_VALIDITY["RefreshToken"] = (30, "days")
_SET_UNIT = {"AccessToken": "hours", "IdToken": "hours", "RefreshToken": "days"}


def client_view(pool_id: str, client: app_clients.AppClient) -> dict[str, Any]:
    """UserPoolClientType for an AppClient."""
    extra = dict(client.extra)
    validity = extra.pop("validity", {})
    units = extra.pop("units", {})
    created, modified = extra.pop("created_ms", None), extra.pop("modified_ms", None)
    view: dict[str, Any] = {
        "UserPoolId": pool_id,
        "ClientName": client.name or client.id,
        "ClientId": client.id,
    }
    if client.secret:
        view["ClientSecret"] = client.secret
    if modified is not None:
        view["LastModifiedDate"] = date(modified)
    if created is not None:
        view["CreationDate"] = date(created)
    for token, (default, unit) in _DEFAULT_VALIDITY.items():
        view[f"{token}Validity"] = validity.get(token, default)
        units.setdefault(token, unit)
    view["TokenValidityUnits"] = units
    view["ExplicitAuthFlows"] = list(client.explicit_auth_flows)
    view["AllowedOAuthFlowsUserPoolClient"] = False
    view["PreventUserExistenceErrors"] = (
        "ENABLED" if client.prevent_user_existence_errors else "LEGACY"
    )
    view["EnableTokenRevocation"] = client.enable_token_revocation
    view["EnablePropagateAdditionalUserContextData"] = False
    view["AuthSessionValidity"] = client.auth_session_min
    # Only the model's members: a record written before members were filtered may hold others.
    view.update((k, v) for k, v in extra.items() if k in KEPT_MEMBERS or k in _VIEWED)
    return view


def client_from_body(
    values: dict[str, Any],
    body: dict[str, Any],
    client_id: str,
    secret: str | None,
    created_ms: int,
    now_ms: int,
) -> app_clients.AppClient:
    """The AppClient a CreateUserPoolClient or UpdateUserPoolClient body describes."""
    flows = _auth_flows(body.get("ExplicitAuthFlows"))
    revocation = bool_member(body, "EnableTokenRevocation")
    units = dict(values["TokenValidityUnits"] or {})
    units = {k: v for k, v in units.items() if v is not None}
    validity: dict[str, int] = {}
    seconds: dict[str, int] = {}
    for kind, (default, default_unit) in _DEFAULT_VALIDITY.items():
        given = values[f"{kind}Validity"]
        if given is None or (kind == "RefreshToken" and given == 0):
            amount, unit = default, units.get(kind, default_unit)
            if kind in units:
                amount = _DEFAULT_VALIDITY[kind][0] * _UNIT_S[default_unit] // _UNIT_S[unit]
        else:
            amount, unit = given, units.get(kind, _SET_UNIT[kind])
        low, high = _LIMITS_S[kind]
        if not low <= amount * _UNIT_S[unit] <= high:
            # Message from a real answer quoted in aws-samples/cloudfront-authorization-at-edge
            # issue #144.
            raise e.InvalidParameterException("Invalid range for token validity.")
        validity[kind], units[kind] = amount, unit
        seconds[kind] = amount * _UNIT_S[unit]
    rotation = values["RefreshTokenRotation"]
    # Only the model's own members are kept as given: anything else a request carries (an
    # injected ClientId, say) never reaches the stored record.
    extra = {k: v for k, v in body.items() if k in KEPT_MEMBERS}
    extra.update(validity=validity, units=units, created_ms=created_ms, modified_ms=now_ms)
    if rotation is not None:
        extra["RefreshTokenRotation"] = {
            "Feature": rotation["Feature"],
            "RetryGracePeriodSeconds": rotation["RetryGracePeriodSeconds"] or 0,
        }
    return app_clients.AppClient(
        id=client_id,
        name=values["ClientName"],
        secret=secret,
        explicit_auth_flows=tuple(flows) if flows is not None else app_clients.DEFAULT_FLOWS,
        access_token_s=seconds["AccessToken"],
        id_token_s=seconds["IdToken"],
        refresh_token_s=seconds["RefreshToken"],
        auth_session_min=values["AuthSessionValidity"] or app_clients.DEFAULT_AUTH_SESSION_MIN,
        enable_token_revocation=True if revocation is None else revocation,
        prevent_user_existence_errors=values["PreventUserExistenceErrors"] == "ENABLED",
        refresh_rotation=rotation is not None and rotation["Feature"] == "ENABLED",
        retry_grace_s=(rotation or {}).get("RetryGracePeriodSeconds") or 0,
        extra=extra,
    )


def _auth_flows(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        raise e.SerializationException("Expected list of strings for ExplicitAuthFlows")
    bad = [f for f in value if f not in AUTH_FLOWS]
    if bad:
        raise e.InvalidParameterException(
            f"1 validation error detected: Value '[{', '.join(value)}]' at 'explicitAuthFlows' "
            "failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy "
            f"enum value set: [{', '.join(AUTH_FLOWS)}]]"
        )
    return list(value)
