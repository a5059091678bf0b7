"""InitiateAuth's refusals (service/ops/auth_initiate.py, auth_refresh.py) over the wire with
boto3: a flow the client does not allow, missing parameters, a RESET_REQUIRED user, an invalid
SRP_A, and refresh tokens that are forged, another client's, a deleted or disabled user's, of the
wrong status, or expired. Each asserts Cognito's error type, message and HTTP status, as the
service words them (service/ops/auth_input.py says which messages are captured, which inferred).
RespondToAuthChallenge's refusals are in tests/test_auth_refusals_respond.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service import store
from service.credentials import refresh
from service.credentials.pool import Pool, pool_from_record
from service.redis_io import keys
from tests.auth_helpers import ALL_FLOWS, PASSWORD, set_clients, user_with_password
from tests.conftest import Admin, client_error

NOT_ENABLED = ("InvalidParameterException", "Auth flow not enabled for this client", 400)
NOT_SUPPORTED = ("InvalidParameterException", "Initiate Auth method not supported.", 400)
BAD_SRP_A = ("InvalidParameterException", "SRP_A is not a valid SRP value.", 400)
RESET = ("PasswordResetRequiredException", "Password reset required for the user", 400)
INVALID_REFRESH = ("NotAuthorizedException", "Invalid Refresh Token", 400)


def missing(name: str) -> tuple[str, str, int]:
    return ("InvalidParameterException", f"Missing required parameter {name}", 400)


def refused(fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[str, str, int]:
    """(code, message, HTTP status) of the error `fn(*args, **kw)` raises."""
    with pytest.raises(ClientError) as err:
        fn(*args, **kw)
    return client_error(err)


def clients(admin: Admin, *extra: dict[str, Any]) -> None:
    """The default pool's app clients: "app" (every flow), "hiding" (every flow,
    PreventUserExistenceErrors), and `extra`."""
    set_clients(
        admin,
        [
            {"id": "app", "explicit_auth_flows": ALL_FLOWS},
            {"id": "hiding", "explicit_auth_flows": ALL_FLOWS,
             "prevent_user_existence_errors": True},
            *extra,
        ],
    )  # fmt: skip


def initiate(cognito: Any, client_id: str, flow: str, **params: str) -> Any:
    return cognito.initiate_auth(AuthFlow=flow, ClientId=client_id, AuthParameters=params)


def admin_initiate(cognito: Any, admin: Admin, client_id: str, flow: str, **params: str) -> Any:
    return cognito.admin_initiate_auth(
        UserPoolId=admin.settings.default_pool_id,
        ClientId=client_id,
        AuthFlow=flow,
        AuthParameters=params,
    )


def pool_of(admin: Admin) -> Pool:
    """The default pool as the server holds it (its secret seals sessions and refresh tokens)."""
    raw = admin.redis.hgetall(keys.pool(admin.settings.default_pool_id))
    return pool_from_record({k.decode(): v.decode() for k, v in raw.items()})


def set_status(admin: Admin, status: str) -> None:
    """What the CLI's `user update --status` does (store.update_user)."""
    pool_id = admin.settings.default_pool_id
    admin.run(lambda r: store.update_user(r, pool_id, "alice", status=status))


# -- flows ------------------------------------------------------------------------------------
def test_a_flow_the_client_does_not_allow(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    rotating = {"id": "rotating", "explicit_auth_flows": ALL_FLOWS, "refresh_rotation": True}
    clients(
        admin,
        {"id": "srponly", "explicit_auth_flows": ["ALLOW_USER_SRP_AUTH"]},
        {"id": "passwordonly", "explicit_auth_flows": ["ALLOW_USER_PASSWORD_AUTH"]},
        rotating,
    )
    token = initiate(cognito, "app", "USER_PASSWORD_AUTH", USERNAME="alice", PASSWORD=PASSWORD)[
        "AuthenticationResult"
    ]["RefreshToken"]
    srp = {"USERNAME": "alice", "SRP_A": "ab" * 384}
    assert refused(initiate, cognito, "passwordonly", "USER_SRP_AUTH", **srp) == (NOT_ENABLED)
    admin_password = {"USERNAME": "alice", "PASSWORD": PASSWORD}
    for flow in ("ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"):
        answer = refused(admin_initiate, cognito, admin, "srponly", flow, **admin_password)
        assert answer == NOT_ENABLED, flow
    for flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
        answer = refused(initiate, cognito, "srponly", flow, REFRESH_TOKEN=token)
        assert answer == NOT_ENABLED, flow
    # RefreshTokenRotation: GetTokensFromRefreshToken only (the developer guide).
    answer = refused(initiate, cognito, "rotating", "REFRESH_TOKEN_AUTH", REFRESH_TOKEN=token)
    assert answer == NOT_ENABLED
    # Flows this service does not run, and the admin flows outside AdminInitiateAuth (and the
    # public one inside it), whatever the client allows.
    for flow in ("CUSTOM_AUTH", "USER_AUTH", "ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"):
        answer = refused(initiate, cognito, "app", flow, **admin_password)
        assert answer == NOT_SUPPORTED, flow
    answer = refused(admin_initiate, cognito, admin, "app", "USER_PASSWORD_AUTH", **admin_password)
    assert answer == NOT_SUPPORTED


def test_missing_parameters(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    clients(admin)
    # No AuthParameters at all.
    answer = refused(cognito.initiate_auth, AuthFlow="USER_PASSWORD_AUTH", ClientId="app")
    assert answer == missing("USERNAME")
    for flow, params, name in (
        ("USER_PASSWORD_AUTH", {"PASSWORD": PASSWORD}, "USERNAME"),
        ("USER_PASSWORD_AUTH", {"USERNAME": "alice"}, "PASSWORD"),
        ("USER_PASSWORD_AUTH", {"USERNAME": "alice", "PASSWORD": ""}, "PASSWORD"),
        ("USER_SRP_AUTH", {"SRP_A": "ab" * 384}, "USERNAME"),
        ("USER_SRP_AUTH", {"USERNAME": "alice"}, "SRP_A"),
        ("REFRESH_TOKEN_AUTH", {"USERNAME": "alice"}, "REFRESH_TOKEN"),
    ):
        assert refused(initiate, cognito, "app", flow, **params) == missing(name), params
    answer = refused(
        admin_initiate, cognito, admin, "app", "ADMIN_USER_PASSWORD_AUTH", USERNAME="alice"
    )
    assert answer == missing("PASSWORD")


def test_a_reset_required_user(cognito: Any, admin: Admin) -> None:
    """A RESET_REQUIRED user (an imported one) signs in by no flow, whatever the password: a
    wrong one is refused the same way (the password is never checked)."""
    user_with_password(admin)
    set_status(admin, "RESET_REQUIRED")
    clients(admin)
    for password in (PASSWORD, "Wr0ng-password!"):
        answer = refused(
            initiate, cognito, "app", "USER_PASSWORD_AUTH", USERNAME="alice", PASSWORD=password
        )
        assert answer == RESET
        answer = refused(
            admin_initiate,
            cognito,
            admin,
            "app",
            "ADMIN_USER_PASSWORD_AUTH",
            USERNAME="alice",
            PASSWORD=password,
        )
        assert answer == RESET
    answer = refused(initiate, cognito, "app", "USER_SRP_AUTH", USERNAME="alice", SRP_A="ab" * 384)
    assert answer == RESET


def test_an_invalid_srp_a(cognito: Any, admin: Admin) -> None:
    """SRP_A must be a hex number that is not 0 mod N (RFC 5054's check); an unknown user's
    simulated challenge (PreventUserExistenceErrors) checks it too."""
    from service.credentials.srp import N

    user_with_password(admin)
    clients(admin)
    for srp_a, client_id, username in (
        ("0", "app", "alice"),
        (format(N, "x"), "app", "alice"),
        (format(3 * N, "x"), "app", "alice"),
        ("not-hex", "app", "alice"),
        ("0", "hiding", "alice"),
        ("0", "hiding", "nobody"),
        ("not-hex", "hiding", "nobody"),
    ):
        answer = refused(
            initiate, cognito, client_id, "USER_SRP_AUTH", USERNAME=username, SRP_A=srp_a
        )
        assert answer == BAD_SRP_A, (srp_a, client_id, username)
    # A valid one still gets its challenge.
    answer = initiate(cognito, "app", "USER_SRP_AUTH", USERNAME="alice", SRP_A="ab" * 384)
    assert answer["ChallengeName"] == "PASSWORD_VERIFIER"


# -- refresh tokens ---------------------------------------------------------------------------
def _sign_in(cognito: Any, client_id: str = "app") -> str:
    """A fresh sign-in's refresh token."""
    answer = initiate(cognito, client_id, "USER_PASSWORD_AUTH", USERNAME="alice", PASSWORD=PASSWORD)
    return str(answer["AuthenticationResult"]["RefreshToken"])


def _refresh(cognito: Any, token: str, client_id: str = "app") -> Any:
    return initiate(cognito, client_id, "REFRESH_TOKEN_AUTH", REFRESH_TOKEN=token)


def test_a_forged_refresh_token(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    clients(admin)
    token = _sign_in(cognito)
    parts = token.split(".")
    # One character changed in each part of the sealed claims (iv, ciphertext, tag), and in
    # its header: the seal no longer opens.
    forged = []
    for index in (0, 2, 3, 4):
        part = parts[index]
        flipped = part[:5] + ("A" if part[5] != "A" else "B") + part[6:]
        forged.append(".".join([*parts[:index], flipped, *parts[index + 1 :]]))
    # Claims sealed under another pool's key: what a forger without this pool's secret makes.
    pool = pool_of(admin)
    claims = refresh.unseal(pool, token)
    assert claims is not None
    other = replace(pool, secret=b"\x01" * 32)
    forged.append(refresh.seal(other, claims))
    forged += ["not-a-token", "a.b.c.d.e", ".".join(parts[:4])]
    for bad in forged:
        assert refused(_refresh, cognito, bad) == INVALID_REFRESH, bad
    assert "AccessToken" in _refresh(cognito, token)["AuthenticationResult"]


def test_another_clients_refresh_token(cognito: Any, admin: Admin) -> None:
    """A refresh token binds to the client it was issued to: another client of the same pool
    gets nothing from it (service/ops/auth_refresh.py, _unseal)."""
    user_with_password(admin)
    clients(admin, {"id": "other", "explicit_auth_flows": ALL_FLOWS})
    token = _sign_in(cognito, "app")
    assert refused(_refresh, cognito, token, "other") == INVALID_REFRESH
    answer = refused(cognito.get_tokens_from_refresh_token, RefreshToken=token, ClientId="other")
    assert answer == INVALID_REFRESH
    assert "AccessToken" in _refresh(cognito, token, "app")["AuthenticationResult"]


def test_a_deleted_users_refresh_token(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    clients(admin)
    token = _sign_in(cognito)
    pool_id = admin.settings.default_pool_id
    cognito.admin_delete_user(UserPoolId=pool_id, Username="alice")
    gone = ("UserNotFoundException", "User does not exist.", 400)
    assert refused(_refresh, cognito, token) == gone
    # A new user of the same name is someone else (another sub): the token is not theirs.
    user_with_password(admin)
    assert refused(_refresh, cognito, token) == gone


def test_a_disabled_users_refresh_token(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    clients(admin)
    pool_id = admin.settings.default_pool_id
    token = _sign_in(cognito)
    # A user record that says disabled, with no sign-out since the token (as a restored or
    # hand-edited record would): refused as a disabled user.
    admin.redis.hset(keys.UserKeys(*_pool_gen(admin), "alice").user, "enabled", "0")
    disabled = ("NotAuthorizedException", "User is disabled.", 400)
    assert refused(_refresh, cognito, token) == disabled
    # AdminDisableUser revokes every token issued until then; enabling again brings none back.
    admin.redis.hset(keys.UserKeys(*_pool_gen(admin), "alice").user, "enabled", "1")
    assert "AccessToken" in _refresh(cognito, token)["AuthenticationResult"]
    cognito.admin_disable_user(UserPoolId=pool_id, Username="alice")
    revoked = ("NotAuthorizedException", "Refresh Token has been revoked", 400)
    assert refused(_refresh, cognito, token) == revoked
    cognito.admin_enable_user(UserPoolId=pool_id, Username="alice")
    assert refused(_refresh, cognito, token) == revoked


def _pool_gen(admin: Admin) -> tuple[str, str]:
    pool_id = admin.settings.default_pool_id
    return pool_id, admin.redis.hget(keys.pool(pool_id), "gen").decode()


def test_a_refresh_token_of_a_user_of_the_wrong_status(cognito: Any, admin: Admin) -> None:
    """Only a CONFIRMED (or EXTERNAL_PROVIDER) user refreshes: a status changed since the
    sign-in (the CLI's `user update --status`, store.update_user) is refused as a sign-in
    would be."""
    user_with_password(admin)
    clients(admin)
    token = _sign_in(cognito)
    for status, answer in (
        ("UNCONFIRMED", ("UserNotConfirmedException", "User is not confirmed.", 400)),
        ("RESET_REQUIRED", RESET),
        ("FORCE_CHANGE_PASSWORD", RESET),
        ("ARCHIVED", ("NotAuthorizedException", "User is disabled.", 400)),
        ("COMPROMISED", ("NotAuthorizedException", "User is disabled.", 400)),
    ):
        set_status(admin, status)
        assert refused(_refresh, cognito, token) == answer, status
    set_status(admin, "CONFIRMED")
    assert "AccessToken" in _refresh(cognito, token)["AuthenticationResult"]


def test_an_expired_refresh_token(cognito: Any, admin: Admin) -> None:
    """The token's own expiry (sealed in it) is checked against Redis's clock: the same token,
    resealed with its expiry a second ago, is refused; with an hour to go, it works."""
    user_with_password(admin)
    clients(admin)
    token = _sign_in(cognito)
    pool = pool_of(admin)
    claims = refresh.unseal(pool, token)
    assert claims is not None
    now = int(time.time())
    expired = refresh.seal(pool, replace(claims, exp=now - 1))
    answer = refused(_refresh, cognito, expired)
    assert answer == ("NotAuthorizedException", "Refresh Token has expired", 400)
    answer = refused(cognito.get_tokens_from_refresh_token, RefreshToken=expired, ClientId="app")
    assert answer == ("NotAuthorizedException", "Refresh Token has expired", 400)
    fresh = refresh.seal(pool, replace(claims, exp=now + 3600))
    assert "AccessToken" in _refresh(cognito, fresh)["AuthenticationResult"]
