"""Sign-in's guards against other people (service/ops/auth_*.py, auth_read.lua), over the wire
with boto3 and pycognito: a password change ends the challenge sessions begun before it, the app
client's PreventUserExistenceErrors hides who exists (in answers and in time), and wrong
passwords that name a user cannot throttle that user's token calls."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service import store
from tests.auth_helpers import ALL_FLOWS, PASSWORD, default_client, set_clients, user_with_password
from tests.conftest import Admin, boto_client, client_error

WRONG = "Wr0ng-password!"
INCORRECT = ("NotAuthorizedException", "Incorrect username or password.", 400)
EXPIRED = ("NotAuthorizedException", "Invalid session for the user, session is expired.", 400)


def _clients(admin: Admin) -> None:
    """Two more app clients of the default pool: "hiding" (PreventUserExistenceErrors
    ENABLED) and "legacy" (LEGACY, the API's default)."""
    set_clients(
        admin,
        [
            {"id": default_client(admin)},
            {
                "id": "hiding",
                "explicit_auth_flows": ALL_FLOWS,
                "prevent_user_existence_errors": True,
            },
            {"id": "legacy", "explicit_auth_flows": ALL_FLOWS},
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


# -- PreventUserExistenceErrors ---------------------------------------------------------------
def test_an_unknown_user_gets_a_wrong_passwords_answer(cognito: Any, admin: Admin) -> None:
    from pycognito.aws_srp import AWSSRP

    user_with_password(admin)
    admin.create_user("imported", status="RESET_REQUIRED")
    _clients(admin)
    pool = admin.settings.default_pool_id
    # LEGACY tells who does not exist; ENABLED answers them as a wrong password.
    assert _refused(lambda: _password_auth(cognito, "legacy", "nobody", WRONG)) == (
        "UserNotFoundException", "User does not exist.", 400
    )  # fmt: skip
    assert _refused(lambda: _password_auth(cognito, "hiding", "nobody", WRONG)) == INCORRECT
    assert _refused(lambda: _password_auth(cognito, "hiding", "alice", WRONG)) == INCORRECT
    admin_auth = {
        "UserPoolId": pool,
        "ClientId": "hiding",
        "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "nobody", "PASSWORD": WRONG},
    }
    assert _refused(lambda: cognito.admin_initiate_auth(**admin_auth)) == INCORRECT
    # The guide's "Imported users": not PasswordResetRequiredException.
    assert _refused(lambda: _password_auth(cognito, "hiding", "imported", WRONG)) == INCORRECT

    # USER_SRP_AUTH: a simulated challenge (the same SALT each time for the name, of a real
    # salt's form), whose proof then fails as a wrong password's does.
    def challenge(username: str) -> dict[str, str]:
        params = AWSSRP(username, WRONG, pool, "hiding", client=cognito).get_auth_params()
        answer = cognito.initiate_auth(
            AuthFlow="USER_SRP_AUTH", ClientId="hiding", AuthParameters=params
        )
        assert answer["ChallengeName"] == "PASSWORD_VERIFIER"
        return dict(answer["ChallengeParameters"])

    first, second, real = challenge("nobody"), challenge("nobody"), challenge("alice")
    assert first["SALT"] == second["SALT"] and first["SRP_B"] != second["SRP_B"]
    assert len(first["SALT"]) == len(real["SALT"]) and first["SALT"].startswith("00")
    assert sorted(first) == sorted(real)
    assert first["USERNAME"] == first["USER_ID_FOR_SRP"] == "nobody"
    assert int(first["SRP_B"], 16) > 0 and len(first["SRP_B"]) > 700
    for username in ("nobody", "alice"):
        aws = AWSSRP(username, WRONG, pool, "hiding", client=cognito)
        assert _refused(aws.authenticate_user) == INCORRECT
    # The right password still signs in through the hiding client.
    aws = AWSSRP("alice", PASSWORD, pool, "hiding", client=cognito)
    assert "AccessToken" in aws.authenticate_user()["AuthenticationResult"]


def test_an_unknown_user_costs_what_a_wrong_password_costs(live_factory: Any) -> None:
    """Timed in turns (so the machine's load weighs on both alike): an unknown user's refusal
    takes about as long as a known user's wrong password. Before, a bare "no such user" took
    about 2 ms against 8 ms (the verifier's derivation): a ratio of 0.25."""
    server, admin = live_factory(user_rate_per_s=1000.0, user_burst=1000)
    cognito = boto_client(server.url)
    user = user_with_password(admin)
    _clients(admin)
    times: dict[str, list[float]] = {"alice": [], "nobody": []}
    for _ in range(25):
        for username, spent in times.items():
            # A known user's lockout would answer without checking anything: start it again.
            admin.redis.hdel(user.keys.user, "fail_count", "fail_ms", "lock_until_ms")
            start = time.perf_counter()
            answer = _refused(partial(_password_auth, cognito, "hiding", username, WRONG))
            assert answer == INCORRECT
            spent.append(time.perf_counter() - start)
    ratio = statistics.median(times["nobody"]) / statistics.median(times["alice"])
    assert 0.6 < ratio < 1.6, ratio


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


def test_a_new_password_never_replaces_one_set_since_its_session_began(admin: Admin) -> None:
    """The window between reading the session and writing the new password (auth_ok.lua): a
    password change in it wins, and the sign-in's password is not written."""
    from service.redis_io import keys, lua

    user = user_with_password(admin)
    uk = keys.UserKeys(*_pool_and_gen(admin), "alice")
    salt_then = admin.redis.hget(uk.user, "srp_salt").decode()
    # An admin sets a new password after the session was read (a new salt).
    admin.run(
        lambda r: store.set_password(r, admin.settings.default_pool_id, "alice", "Adm1n-chosen!")
    )
    fields = ["srp_salt", "aa", "srp_verifier", "bb", "status", "CONFIRMED"]
    args = [user.sub, "", "", "", "", "ojti", "client", salt_then, *fields]
    script = lua.AUTH_OK
    keys_ = (uk.user, uk.devices, uk.device(""), uk.refresh)
    assert admin.redis.eval(script.source, 4, *keys_, *args) == b"STALE"
    assert admin.redis.hget(uk.user, "srp_salt") != b"aa"
    assert not admin.redis.hexists(uk.refresh, "ojti")
    # With the salt the session began with still current, the fields are written.
    args[7] = admin.redis.hget(uk.user, "srp_salt").decode()
    assert isinstance(admin.redis.eval(script.source, 4, *keys_, *args), int)
    assert admin.redis.hget(uk.user, "srp_salt") == b"aa"


def _pool_and_gen(admin: Admin) -> tuple[str, str]:
    from service.redis_io import keys

    pool_id = admin.settings.default_pool_id
    return pool_id, admin.redis.hget(keys.pool(pool_id), "gen").decode()
