"""Sign-in's guards against other people (service/ops/auth_*.py, auth_read.lua), over the wire
with boto3: wrong passwords that name a user cannot throttle that user's token calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service import store
from tests.auth_helpers import PASSWORD, default_client, set_clients
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
