"""Sign-in (service/ops/auth.py) over the wire with boto3 and pycognito (independent clients):
USER_PASSWORD_AUTH, USER_SRP_AUTH, REFRESH_TOKEN_AUTH, NEW_PASSWORD_REQUIRED, devices, errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jose import jwt

from service.credentials import srp
from tests.auth_helpers import PASSWORD, default_client, set_clients, user_with_password
from tests.conftest import Admin, boto_client, client_error


def _password_auth(cognito: Any, client_id: str, username: str = "alice", **extra: str) -> Any:
    params = {"USERNAME": username, "PASSWORD": extra.pop("password", PASSWORD), **extra}
    return cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH", ClientId=client_id, AuthParameters=params
    )


def test_password_sign_in_issues_tokens_and_a_device(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    client_id = default_client(admin)
    answer = _password_auth(cognito, client_id)
    result = answer["AuthenticationResult"]
    assert answer["ChallengeParameters"] == {}
    assert result["TokenType"] == "Bearer" and result["ExpiresIn"] == 3600
    device = result["NewDeviceMetadata"]
    access = jwt.get_unverified_claims(result["AccessToken"])
    id_claims = jwt.get_unverified_claims(result["IdToken"])
    assert access["device_key"] == device["DeviceKey"]
    assert access["token_use"] == "access" and id_claims["token_use"] == "id"
    assert access["origin_jti"] == id_claims["origin_jti"]
    assert access["event_id"] == id_claims["event_id"]
    assert access["jti"] != id_claims["jti"]
    assert id_claims["aud"] == client_id and id_claims["cognito:username"] == "alice"
    # Two keys: the ID token's is not the access token's, and both are in the JWKS.
    access_kid = jwt.get_unverified_header(result["AccessToken"])["kid"]
    id_kid = jwt.get_unverified_header(result["IdToken"])["kid"]
    assert access_kid != id_kid
    # The token works for the device API; the new device is invisible until confirmed.
    token = result["AccessToken"]
    assert cognito.list_devices(AccessToken=token)["Devices"] == []
    confirmed = cognito.confirm_device(
        AccessToken=token,
        DeviceKey=device["DeviceKey"],
        DeviceSecretVerifierConfig={"PasswordVerifier": "dmVy", "Salt": "c2FsdA=="},
        DeviceName="laptop",
    )
    assert confirmed["UserConfirmationNecessary"] is False
    got = cognito.get_device(AccessToken=token, DeviceKey=device["DeviceKey"])["Device"]
    assert {"Name": "device_name", "Value": "laptop"} in got["DeviceAttributes"]
    assert got["DeviceLastAuthenticatedDate"]


def test_jwks_has_two_keys(live: Any, admin: Admin) -> None:
    import urllib.request

    import orjson

    pool = admin.settings.default_pool_id
    with urllib.request.urlopen(f"{live.url}/{pool}/.well-known/jwks.json") as resp:
        assert len(orjson.loads(resp.read())["keys"]) == 2


def test_wrong_password_unknown_user_and_lockout(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    client_id = default_client(admin)
    for _ in range(5):
        with pytest.raises(ClientError) as err:
            _password_auth(cognito, client_id, password="Wr0ng-password!")
        assert client_error(err)[1] == "Incorrect username or password."
    # Five failures: locked out for a second, even with the right password.
    with pytest.raises(ClientError) as err:
        _password_auth(cognito, client_id)
    assert client_error(err) == ("NotAuthorizedException", "Password attempts exceeded", 400)
    with pytest.raises(ClientError) as err:
        _password_auth(cognito, client_id, username="nobody")
    assert client_error(err) == ("UserNotFoundException", "User does not exist.", 400)


def test_explicit_auth_flows_and_secret_hash(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    secret = "s" * 40
    set_clients(
        admin,
        [
            {"id": "plainclient", "explicit_auth_flows": ["ALLOW_USER_SRP_AUTH"]},
            {"id": "secretclient", "secret": secret,
             "explicit_auth_flows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]},
            {"id": "otherclient", "secret": "o" * 40,
             "explicit_auth_flows": ["ALLOW_USER_PASSWORD_AUTH"]},
        ],
    )  # fmt: skip
    with pytest.raises(ClientError) as err:
        _password_auth(cognito, "plainclient")
    assert client_error(err) == (
        "InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client", 400
    )  # fmt: skip
    with pytest.raises(ClientError) as err:
        _password_auth(cognito, "secretclient")
    assert client_error(err)[1] == (
        "Client secretclient is configured with secret but SECRET_HASH was not received"
    )

    def secret_hash(key: str, client: str) -> str:
        mac = hmac.new(key.encode(), ("alice" + client).encode(), hashlib.sha256)
        return base64.b64encode(mac.digest()).decode()

    # A SECRET_HASH made for another client is refused.
    with pytest.raises(ClientError) as err:
        _password_auth(cognito, "secretclient", SECRET_HASH=secret_hash("o" * 40, "otherclient"))
    assert client_error(err) == (
        "NotAuthorizedException", "Unable to verify secret hash for client secretclient", 400
    )  # fmt: skip
    # Non-ASCII text is refused the same way, never a 500 (compare_digest takes bytes here).
    with pytest.raises(ClientError) as err:
        _password_auth(cognito, "secretclient", SECRET_HASH="é" * 44)
    assert client_error(err) == (
        "NotAuthorizedException", "Unable to verify secret hash for client secretclient", 400
    )  # fmt: skip
    good = secret_hash(secret, "secretclient")
    result = _password_auth(cognito, "secretclient", SECRET_HASH=good)["AuthenticationResult"]
    refreshed = cognito.initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH",
        ClientId="secretclient",
        AuthParameters={"REFRESH_TOKEN": result["RefreshToken"], "SECRET_HASH": good},
    )
    assert "AccessToken" in refreshed["AuthenticationResult"]


def test_refresh_keeps_origin_jti_and_sign_out_ends_it(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    client_id = default_client(admin)
    first = _password_auth(cognito, client_id)["AuthenticationResult"]
    answer = cognito.initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH",
        ClientId=client_id,
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
    )
    second = answer["AuthenticationResult"]
    assert "RefreshToken" not in second and "NewDeviceMetadata" not in second
    a, b = (jwt.get_unverified_claims(t["AccessToken"]) for t in (first, second))
    assert a["origin_jti"] == b["origin_jti"] and a["jti"] != b["jti"]
    assert a["auth_time"] == b["auth_time"] and a["device_key"] == b["device_key"]
    cognito.list_devices(AccessToken=second["AccessToken"])
    cognito.global_sign_out(AccessToken=second["AccessToken"])
    for token in (first["AccessToken"], second["AccessToken"]):
        with pytest.raises(ClientError) as err:
            cognito.list_devices(AccessToken=token)
        assert client_error(err)[1] == "Access Token has been revoked"
    with pytest.raises(ClientError) as err:
        cognito.initiate_auth(
            AuthFlow="REFRESH_TOKEN",
            ClientId=client_id,
            AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
        )
    assert client_error(err) == ("NotAuthorizedException", "Refresh Token has been revoked", 400)


def test_revoke_token_ends_the_sign_in(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    client_id = default_client(admin)
    result = _password_auth(cognito, client_id)["AuthenticationResult"]
    cognito.get_device  # noqa: B018
    cognito.list_devices(AccessToken=result["AccessToken"])
    cognito.revoke_token(Token=result["RefreshToken"], ClientId=client_id)
    with pytest.raises(ClientError) as err:
        cognito.list_devices(AccessToken=result["AccessToken"])
    assert client_error(err)[1] == "Access Token has been revoked"
    with pytest.raises(ClientError) as err:
        cognito.initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH",
            ClientId=client_id,
            AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]},
        )
    assert client_error(err)[1] == "Refresh Token has been revoked"


def test_pycognito_srp_sign_in(cognito: Any, admin: Admin) -> None:
    from pycognito.aws_srp import AWSSRP

    user_with_password(admin)
    pool = admin.settings.default_pool_id
    client_id = default_client(admin)
    aws = AWSSRP("alice", PASSWORD, pool, client_id, client=cognito)
    result = aws.authenticate_user()["AuthenticationResult"]
    cognito.list_devices(AccessToken=result["AccessToken"])
    wrong = AWSSRP("alice", "Not-the-passw0rd", pool, client_id, client=cognito)
    with pytest.raises(ClientError) as err:
        wrong.authenticate_user()
    assert client_error(err) == ("NotAuthorizedException", "Incorrect username or password.", 400)


def test_srp_session_is_single_use(cognito: Any, admin: Admin) -> None:
    from pycognito.aws_srp import AWSSRP

    user_with_password(admin)
    pool = admin.settings.default_pool_id
    client_id = default_client(admin)
    aws = AWSSRP("alice", PASSWORD, pool, client_id, client=cognito)
    params = aws.get_auth_params()
    challenge = cognito.initiate_auth(
        AuthFlow="USER_SRP_AUTH", ClientId=client_id, AuthParameters=params
    )
    assert challenge["ChallengeName"] == "PASSWORD_VERIFIER"
    assert len(challenge["ChallengeParameters"]["SECRET_BLOCK"]) >= 64
    answers = aws.process_challenge(challenge["ChallengeParameters"], params)
    cognito.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=answers
    )
    with pytest.raises(ClientError) as err:
        cognito.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=answers
        )
    assert client_error(err) == (
        "NotAuthorizedException",
        "Invalid session for the user, session can only be used once.",
        400,
    )


def test_new_password_required(cognito: Any, admin: Admin) -> None:
    user_with_password(admin, permanent=False)
    client_id = default_client(admin)
    challenge = _password_auth(cognito, client_id)
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    with pytest.raises(ClientError) as err:
        cognito.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=challenge["Session"],
            ChallengeResponses={"USERNAME": "alice", "NEW_PASSWORD": "short"},
        )
    assert client_error(err) == (
        "InvalidPasswordException",
        "Password does not conform to policy: Password not long enough",
        400,
    )
    done = cognito.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": "alice", "NEW_PASSWORD": "N3w-password!"},
    )
    assert "AccessToken" in done["AuthenticationResult"]
    _password_auth(cognito, client_id, password="N3w-password!")
    with pytest.raises(ClientError):
        _password_auth(cognito, client_id)


def _device_srp(cognito: Any, client_id: str, pool: str) -> tuple[Any, str, str, str]:
    """Sign in, confirm the new device with a verifier made as AWS's libraries make it."""
    from pycognito.aws_srp import generate_hash_device

    result = _password_auth(cognito, client_id)["AuthenticationResult"]
    meta = result["NewDeviceMetadata"]
    device_password, config = generate_hash_device(meta["DeviceGroupKey"], meta["DeviceKey"])
    cognito.confirm_device(
        AccessToken=result["AccessToken"],
        DeviceKey=meta["DeviceKey"],
        DeviceSecretVerifierConfig=config,
        DeviceName="phone",
    )
    return result, meta["DeviceKey"], meta["DeviceGroupKey"], device_password


def test_device_sign_in_with_pycognito(cognito: Any, admin: Admin) -> None:
    from pycognito.aws_srp import AWSSRP

    user_with_password(admin)
    pool = admin.settings.default_pool_id
    client_id = default_client(admin)
    _, device_key, group, device_password = _device_srp(cognito, client_id, pool)
    aws = AWSSRP(
        "alice", PASSWORD, pool, client_id, client=cognito,
        device_key=device_key, device_group_key=group, device_password=device_password,
    )  # fmt: skip
    # pycognito sends no Session with DEVICE_SRP_AUTH; this service requires the password
    # step's Session there (a device secret alone never signs anyone in).
    with pytest.raises(ClientError) as err:
        aws.authenticate_user()
    assert client_error(err)[1] == "Invalid session for the user."
    # The same math, with the Session passed on as AWS's JavaScript library does.
    params = aws.get_auth_params()
    first = cognito.initiate_auth(
        AuthFlow="USER_SRP_AUTH", ClientId=client_id, AuthParameters=params
    )
    answers = aws.process_challenge(first["ChallengeParameters"], params)
    step = cognito.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=answers
    )
    assert step["ChallengeName"] == "DEVICE_SRP_AUTH"
    device_challenge = cognito.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="DEVICE_SRP_AUTH",
        Session=step["Session"],
        ChallengeResponses={
            "USERNAME": "alice", "DEVICE_KEY": device_key, "SRP_A": format(aws.large_a_value, "x")
        },
    )  # fmt: skip
    assert device_challenge["ChallengeName"] == "DEVICE_PASSWORD_VERIFIER"
    proof = aws.process_device_challenge(device_challenge["ChallengeParameters"])
    good = dict(proof)
    # A wrong device secret is refused.
    bad = AWSSRP(
        "alice", PASSWORD, pool, client_id, client=cognito,
        device_key=device_key, device_group_key=group, device_password="wrong",
    )  # fmt: skip
    bad.large_a_value, bad.small_a_value = aws.large_a_value, aws.small_a_value
    wrong = bad.process_device_challenge(device_challenge["ChallengeParameters"])
    with pytest.raises(ClientError) as err:
        cognito.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="DEVICE_PASSWORD_VERIFIER",
            Session=device_challenge["Session"],
            ChallengeResponses=wrong,
        )
    assert client_error(err) == ("NotAuthorizedException", "Incorrect username or password.", 400)
    # The session was used up by the wrong proof: start again, and prove it right this time.
    step = cognito.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="PASSWORD_VERIFIER",
        ChallengeResponses=aws.process_challenge(
            cognito.initiate_auth(
                AuthFlow="USER_SRP_AUTH", ClientId=client_id, AuthParameters=params
            )["ChallengeParameters"],
            params,
        ),
    )
    device_challenge = cognito.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="DEVICE_SRP_AUTH",
        Session=step["Session"],
        ChallengeResponses={
            "USERNAME": "alice", "DEVICE_KEY": device_key, "SRP_A": format(aws.large_a_value, "x")
        },
    )  # fmt: skip
    good = aws.process_device_challenge(device_challenge["ChallengeParameters"])
    done = cognito.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="DEVICE_PASSWORD_VERIFIER",
        Session=device_challenge["Session"],
        ChallengeResponses=good,
    )
    access = jwt.get_unverified_claims(done["AuthenticationResult"]["AccessToken"])
    assert access["device_key"] == device_key
    assert "NewDeviceMetadata" not in done["AuthenticationResult"]


def test_srp_math_is_pycognitos() -> None:
    from pycognito.aws_srp import AWSSRP

    salt, verifier = srp.password_verifier("us-east-1_Pool", "bob", PASSWORD)
    client = AWSSRP("bob", PASSWORD, "us-east-1_Pool", "c", client=object())
    b_hex, key = srp.server_step(verifier, format(client.large_a_value, "x"))
    assert key == client.get_password_authentication_key("bob", PASSWORD, int(b_hex, 16), salt)


def test_parallel_wrong_passwords_are_held_to_the_lockout(live_factory: Any) -> None:
    """Twelve wrong passwords at once: the lockout is checked and the attempt counted in one
    script, so only the first five are checked at all (each a failure); the fifth locks the
    user, and the other seven are refused unchecked. (Counted after the check instead, every
    one of them would pass the lockout before the first was counted.)"""
    server, admin = live_factory(user_rate_per_s=1000.0, user_burst=1000)
    user_with_password(admin)
    client_id = default_client(admin)
    start = threading.Barrier(12)

    def attempt() -> str:
        cognito = boto_client(server.url)
        start.wait()
        try:
            _password_auth(cognito, client_id, password="Wr0ng-password!")
        except ClientError as err:
            return str(err.response["Error"]["Message"])
        return "signed in"

    with ThreadPoolExecutor(12) as pool:
        answers = Counter(pool.map(lambda _: attempt(), range(12)))
    assert answers == {"Incorrect username or password.": 5, "Password attempts exceeded": 7}


def test_a_right_password_of_an_unconfirmed_user_starts_the_count_again(
    cognito: Any, admin: Admin
) -> None:
    user = user_with_password(admin)
    client_id = default_client(admin)
    for _ in range(4):
        with pytest.raises(ClientError):
            _password_auth(cognito, client_id, password="Wr0ng-password!")
    admin.redis.hset(user.keys.user, "status", "UNCONFIRMED")
    with pytest.raises(ClientError) as err:
        _password_auth(cognito, client_id)
    assert client_error(err)[0] == "UserNotConfirmedException"
    assert admin.redis.hget(user.keys.user, "fail_count") is None


def test_srp_of_a_user_without_a_password_counts_toward_the_lockout(
    cognito: Any, admin: Admin
) -> None:
    """USER_SRP_AUTH proves nothing in its first request, so its read counts nothing; a user
    with no password to prove fails there, counted on its own (auth_fail.lua)."""
    user = admin.create_user("alice")
    params = {"USERNAME": "alice", "SRP_A": "ab" * 384}
    for count in (1, 2):
        with pytest.raises(ClientError) as err:
            cognito.initiate_auth(
                AuthFlow="USER_SRP_AUTH", ClientId=default_client(admin), AuthParameters=params
            )
        assert client_error(err)[1] == "Incorrect username or password."
        assert admin.redis.hget(user.keys.user, "fail_count") == str(count).encode()
