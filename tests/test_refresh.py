"""Refreshing a session (service/ops/auth_refresh.py) over the wire with boto3:
GetTokensFromRefreshToken, RefreshTokenRotation and its grace period, reuse, client secrets,
and REFRESH_TOKEN_AUTH's SECRET_HASH bound to the token's user."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jose import jwt

from tests.conftest import client_error

PASSWORD = "Corr3ct-Horse!"
FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]


def make_pool(cognito: Any, *, devices: bool = True, **client: Any) -> tuple[str, str]:
    """A pool with one user (alice, CONFIRMED) and one app client; (pool id, client id)."""
    kw: dict[str, Any] = {}
    if devices:
        kw["DeviceConfiguration"] = {"ChallengeRequiredOnNewDevice": False}
    pool_id = cognito.create_user_pool(PoolName="refresh", **kw)["UserPool"]["Id"]
    client.setdefault("ExplicitAuthFlows", FLOWS)
    made = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="app", **client)
    cognito.admin_create_user(UserPoolId=pool_id, Username="alice", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="alice", Password=PASSWORD, Permanent=True
    )
    return pool_id, made["UserPoolClient"]["ClientId"]


def sign_in(cognito: Any, client_id: str, **extra: str) -> dict[str, Any]:
    params = {"USERNAME": "alice", "PASSWORD": PASSWORD, **extra}
    answer = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH", ClientId=client_id, AuthParameters=params
    )
    return dict(answer["AuthenticationResult"])


def refresh(cognito: Any, client_id: str, token: str, **kw: Any) -> dict[str, Any]:
    answer = cognito.get_tokens_from_refresh_token(RefreshToken=token, ClientId=client_id, **kw)
    assert set(answer) == {"AuthenticationResult", "ResponseMetadata"}
    return dict(answer["AuthenticationResult"])


def test_get_tokens_without_rotation(cognito: Any) -> None:
    _, client_id = make_pool(cognito)
    first = sign_in(cognito, client_id)
    second = refresh(cognito, client_id, first["RefreshToken"])
    assert "RefreshToken" not in second and second["TokenType"] == "Bearer"
    assert second["ExpiresIn"] == 3600
    a, b = (jwt.get_unverified_claims(t["AccessToken"]) for t in (first, second))
    assert a["origin_jti"] == b["origin_jti"] and a["jti"] != b["jti"]
    assert a["auth_time"] == b["auth_time"]
    assert jwt.get_unverified_claims(second["IdToken"])["cognito:username"] == "alice"
    cognito.list_devices(AccessToken=second["AccessToken"])
    # Without rotation the refresh token keeps working.
    refresh(cognito, client_id, first["RefreshToken"])


def test_get_tokens_refusals(cognito: Any) -> None:
    pool_id, client_id = make_pool(cognito, devices=True)
    _, other = make_pool(cognito)
    token = sign_in(cognito, client_id)["RefreshToken"]
    with pytest.raises(ClientError) as err:
        refresh(cognito, "nosuchclient", token)
    assert client_error(err) == (
        "ResourceNotFoundException", "User pool client nosuchclient does not exist.", 400
    )  # fmt: skip
    with pytest.raises(ClientError) as err:
        refresh(cognito, other, token)
    assert client_error(err) == ("NotAuthorizedException", "Invalid Refresh Token", 400)
    with pytest.raises(ClientError) as err:
        refresh(cognito, client_id, "not-a-token")
    assert client_error(err) == ("NotAuthorizedException", "Invalid Refresh Token", 400)
    with pytest.raises(ClientError) as err:
        refresh(cognito, client_id, token, DeviceKey="us-east-1_00000000-0000-0000-0000-0000")
    assert client_error(err) == ("ResourceNotFoundException", "Device does not exist.", 400)
    with pytest.raises(ClientError) as err:
        refresh(cognito, client_id, token, DeviceKey="bad key")
    code, message, _ = client_error(err)
    assert code == "InvalidParameterException" and "at 'deviceKey'" in message
    cognito.admin_disable_user(UserPoolId=pool_id, Username="alice")
    with pytest.raises(ClientError) as err:
        refresh(cognito, client_id, token)
    assert client_error(err) == ("NotAuthorizedException", "Refresh Token has been revoked", 400)


def test_a_refresh_token_is_bound_to_its_client(cognito: Any) -> None:
    # Another client of the same pool: the same signing secret, the same user, yet the token is
    # not theirs (a pool's public client must not refresh a confidential client's sessions).
    pool_id, client_id = make_pool(cognito)
    made = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="other", ExplicitAuthFlows=FLOWS
    )
    other = made["UserPoolClient"]["ClientId"]
    token = sign_in(cognito, client_id)["RefreshToken"]
    invalid = ("NotAuthorizedException", "Invalid Refresh Token", 400)
    with pytest.raises(ClientError) as err:
        refresh(cognito, other, token)
    assert client_error(err) == invalid
    with pytest.raises(ClientError) as err:
        cognito.initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH", ClientId=other, AuthParameters={"REFRESH_TOKEN": token}
        )
    assert client_error(err) == invalid
    # Refused, not revoked: its own client still refreshes with it.
    refresh(cognito, client_id, token)


def test_get_tokens_with_the_device_it_names(cognito: Any) -> None:
    _, client_id = make_pool(cognito, devices=True)
    first = sign_in(cognito, client_id)
    key = first["NewDeviceMetadata"]["DeviceKey"]
    second = refresh(cognito, client_id, first["RefreshToken"], DeviceKey=key)
    assert jwt.get_unverified_claims(second["AccessToken"])["device_key"] == key


def test_rotation_returns_a_new_token_and_a_reuse_revokes_the_family(cognito: Any) -> None:
    rotation = {"Feature": "ENABLED", "RetryGracePeriodSeconds": 0}
    pool_id, client_id = make_pool(cognito, RefreshTokenRotation=rotation)
    described = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    assert described["UserPoolClient"]["RefreshTokenRotation"] == rotation
    first = sign_in(cognito, client_id)
    second = refresh(cognito, client_id, first["RefreshToken"])
    third = refresh(cognito, client_id, second["RefreshToken"])
    assert len({first["RefreshToken"], second["RefreshToken"], third["RefreshToken"]}) == 3
    cognito.list_devices(AccessToken=third["AccessToken"])
    # REFRESH_TOKEN_AUTH is refused on a rotating client (the developer guide).
    with pytest.raises(ClientError) as err:
        cognito.initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH",
            ClientId=client_id,
            AuthParameters={"REFRESH_TOKEN": third["RefreshToken"]},
        )
    assert client_error(err)[0] == "InvalidParameterException"
    # The rotated-out token, after a grace period of 0: a reuse.
    with pytest.raises(ClientError) as err:
        refresh(cognito, client_id, first["RefreshToken"])
    assert client_error(err) == (
        "RefreshTokenReuseException", "Refresh Token has been reused", 400
    )  # fmt: skip
    # The reuse revoked the family: its newest refresh token and its access tokens.
    with pytest.raises(ClientError) as err:
        refresh(cognito, client_id, third["RefreshToken"])
    assert client_error(err) == ("NotAuthorizedException", "Refresh Token has been revoked", 400)
    with pytest.raises(ClientError) as err:
        cognito.list_devices(AccessToken=third["AccessToken"])
    assert client_error(err)[1] == "Access Token has been revoked"
    # Another sign-in of the same user is another family: untouched.
    other = sign_in(cognito, client_id)
    refresh(cognito, client_id, other["RefreshToken"])


def test_rotation_grace_period(cognito: Any) -> None:
    rotation = {"Feature": "ENABLED", "RetryGracePeriodSeconds": 2}
    _, client_id = make_pool(cognito, RefreshTokenRotation=rotation)
    first = sign_in(cognito, client_id)
    second = refresh(cognito, client_id, first["RefreshToken"])
    # A client's retry within the grace period works, and answers the newest step again.
    retry = refresh(cognito, client_id, first["RefreshToken"])
    assert "RefreshToken" in retry
    refresh(cognito, client_id, retry["RefreshToken"])  # rotates again: second is now behind
    time.sleep(2.2)
    with pytest.raises(ClientError) as err:
        refresh(cognito, client_id, second["RefreshToken"])
    assert client_error(err)[0] == "RefreshTokenReuseException"


def test_rotation_keeps_the_refresh_tokens_expiry(cognito: Any) -> None:
    rotation = {"Feature": "ENABLED"}
    _, client_id = make_pool(
        cognito,
        RefreshTokenRotation=rotation,
        RefreshTokenValidity=60,
        TokenValidityUnits={"RefreshToken": "minutes"},
    )
    token = sign_in(cognito, client_id)["RefreshToken"]
    for _ in range(3):
        token = refresh(cognito, client_id, token)["RefreshToken"]


def _secret(cognito: Any, pool_id: str, client_id: str) -> str:
    described = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    return str(described["UserPoolClient"]["ClientSecret"])


def test_client_secret(cognito: Any) -> None:
    pool_id, client_id = make_pool(cognito, GenerateSecret=True)
    secret = _secret(cognito, pool_id, client_id)
    token = sign_in(cognito, client_id, SECRET_HASH=_hash(secret, "alice", client_id))[
        "RefreshToken"
    ]
    with pytest.raises(ClientError) as err:
        refresh(cognito, client_id, token)
    assert client_error(err) == (
        "NotAuthorizedException",
        f"Client {client_id} is configured with secret but ClientSecret was not received",
        400,
    )
    with pytest.raises(ClientError) as err:
        refresh(cognito, client_id, token, ClientSecret="x" * 40)
    assert client_error(err)[0] == "NotAuthorizedException"
    assert "AccessToken" in refresh(cognito, client_id, token, ClientSecret=secret)


def _hash(secret: str, username: str, client_id: str) -> str:
    mac = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def test_refresh_secret_hash_names_the_tokens_user(cognito: Any) -> None:
    pool_id, client_id = make_pool(cognito, GenerateSecret=True)
    secret = _secret(cognito, pool_id, client_id)
    result = sign_in(cognito, client_id, SECRET_HASH=_hash(secret, "alice", client_id))
    sub = jwt.get_unverified_claims(result["AccessToken"])["sub"]

    def refresh_auth(**params: str) -> Any:
        return cognito.initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH",
            ClientId=client_id,
            AuthParameters={"REFRESH_TOKEN": result["RefreshToken"], **params},
        )

    # A hash for a name the request chooses is not a hash for the token's user.
    with pytest.raises(ClientError) as err:
        refresh_auth(USERNAME="mallory", SECRET_HASH=_hash(secret, "mallory", client_id))
    assert client_error(err) == (
        "NotAuthorizedException", f"Unable to verify secret hash for client {client_id}", 400
    )  # fmt: skip
    refresh_auth(SECRET_HASH=_hash(secret, "alice", client_id))
    refresh_auth(USERNAME=sub, SECRET_HASH=_hash(secret, sub, client_id))


def test_update_user_pool_client(cognito: Any) -> None:
    pool_id, client_id = make_pool(
        cognito, GenerateSecret=True, PreventUserExistenceErrors="ENABLED",
        CallbackURLs=["https://example.com/cb"], AccessTokenValidity=2,
    )  # fmt: skip
    before = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)[
        "UserPoolClient"
    ]
    assert before["PreventUserExistenceErrors"] == "ENABLED"
    updated = cognito.update_user_pool_client(
        UserPoolId=pool_id,
        ClientId=client_id,
        RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 10},
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH"],
    )["UserPoolClient"]
    after = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)[
        "UserPoolClient"
    ]
    assert updated == after
    assert after["ClientSecret"] == before["ClientSecret"]
    assert after["CreationDate"] == before["CreationDate"]
    assert after["ClientName"] == "app"
    assert after["RefreshTokenRotation"] == {"Feature": "ENABLED", "RetryGracePeriodSeconds": 10}
    assert after["ExplicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH"]
    # What the update left out is back to its default (the API Reference).
    assert after["PreventUserExistenceErrors"] == "LEGACY"
    assert "CallbackURLs" not in after and after["AccessTokenValidity"] == 60
    # The change is served at once: the password flow is off now.
    with pytest.raises(ClientError) as err:
        sign_in(cognito, client_id)
    assert client_error(err)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        cognito.update_user_pool_client(UserPoolId=pool_id, ClientId="nosuchclient")
    assert client_error(err) == (
        "ResourceNotFoundException", "User pool client nosuchclient does not exist.", 400
    )  # fmt: skip
    with pytest.raises(ClientError) as err:
        cognito.update_user_pool_client(
            UserPoolId=pool_id, ClientId=client_id, RefreshTokenRotation={"Feature": "ON"}
        )
    assert client_error(err)[0] == "InvalidParameterException"
