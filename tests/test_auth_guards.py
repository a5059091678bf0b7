"""Sign-in's guards against other people (service/ops/auth_*.py, auth_read.lua), over the wire
with boto3 and pycognito: a password change ends the challenge sessions begun before it, and
wrong passwords that name a user cannot throttle that user's token calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service import store
from tests.auth_helpers import PASSWORD, default_client, set_clients, user_with_password
from tests.conftest import Admin, boto_client, client_error

WRONG = "Wr0ng-password!"
INCORRECT = ("NotAuthorizedException", "Incorrect username or password.", 400)
EXPIRED = ("NotAuthorizedException", "Invalid session for the user, session is expired.", 400)
FLOWS = [
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
]


def _clients(admin: Admin) -> None:
    """Two more app clients of the default pool: "hiding" (PreventUserExistenceErrors
    ENABLED) and "legacy" (LEGACY, the API's default)."""
    set_clients(
        admin,
        [
            {"id": default_client(admin)},
            {"id": "hiding", "explicit_auth_flows": FLOWS, "prevent_user_existence_errors": True},
            {"id": "legacy", "explicit_auth_flows": FLOWS},
        ],
    )


def _password_auth(cognito: Any, client_id: str, username: str, password: str) -> Any:
    return cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )


def _refused(fn: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as err:
        fn()
    return client_error(err)


# -- a password change ends the sessions begun before it -------------------------------------
def test_an_admins_password_ends_a_new_password_session(cognito: Any, admin: Admin) -> None:
    """A NEW_PASSWORD_REQUIRED session begun with the temporary password no longer completes
    once an admin has set a permanent password: the attacker's password would replace it."""
    user_with_password(admin, permanent=False)
    _clients(admin)
    challenge = _password_auth(cognito, "legacy", "alice", PASSWORD)
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    cognito.admin_set_user_password(
        UserPoolId=admin.settings.default_pool_id,
        Username="alice",
        Password="Adm1n-chosen!",
        Permanent=True,
    )
    answer = _refused(
        lambda: cognito.respond_to_auth_challenge(
            ClientId="legacy",
            ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=challenge["Session"],
            ChallengeResponses={"USERNAME": "alice", "NEW_PASSWORD": "Att4cker-chosen!"},
        )
    )
    assert answer == EXPIRED
    assert (
        "AccessToken"
        in _password_auth(cognito, "legacy", "alice", "Adm1n-chosen!")["AuthenticationResult"]
    )
    assert _refused(lambda: _password_auth(cognito, "legacy", "alice", "Att4cker-chosen!")) == (
        INCORRECT
    )


def test_any_password_change_ends_an_srp_session(cognito: Any, admin: Admin) -> None:
    """A PASSWORD_VERIFIER session outlives no password change, even one to the same password
    (set_password.lua, the CLI's path): its proof was made against the old verifier."""
    from pycognito.aws_srp import AWSSRP

    user_with_password(admin)
    _clients(admin)
    pool = admin.settings.default_pool_id
    aws = AWSSRP("alice", PASSWORD, pool, "legacy", client=cognito)
    params = aws.get_auth_params()
    challenge = cognito.initiate_auth(
        AuthFlow="USER_SRP_AUTH", ClientId="legacy", AuthParameters=params
    )
    admin.run(lambda r: store.set_password(r, pool, "alice", PASSWORD))
    answers = aws.process_challenge(challenge["ChallengeParameters"], params)
    answer = _refused(
        lambda: cognito.respond_to_auth_challenge(
            ClientId="legacy", ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=answers
        )
    )
    assert answer == EXPIRED
    # A sign-in begun after the change goes through.
    fresh = AWSSRP("alice", PASSWORD, pool, "legacy", client=cognito)
    assert "AccessToken" in fresh.authenticate_user()["AuthenticationResult"]


# -- per-user buckets -------------------------------------------------------------------------
def test_wrong_passwords_cannot_throttle_a_users_token_calls(live_factory: Any) -> None:
    """Anyone can send InitiateAuth naming a user; those calls draw from the user's sign-in
    bucket, not the one the user's own token calls (GetDevice, ListDevices) draw from."""
    server, admin = live_factory(user_rate_per_s=0.001, user_burst=10)
    cognito = boto_client(server.url)
    user, device, token = admin.user_with_device("victim")
    admin.run(lambda r: store.set_password(r, user.pool_id, "victim", PASSWORD))
    _clients(admin)
    answers = [
        _refused(lambda: _password_auth(cognito, "legacy", "victim", WRONG))[0] for _ in range(45)
    ]
    # Sign-ins are still held to the per-user quota (and the lockout: five failures).
    assert answers.count("TooManyRequestsException") == 35
    assert "NotAuthorizedException" in answers[:10]
    assert cognito.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device
    assert cognito.list_devices(AccessToken=token)["Devices"]
