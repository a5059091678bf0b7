"""RespondToAuthChallenge's refusals (service/ops/auth_respond.py) over the wire with boto3, with
pycognito (an independent SRP client) for the proofs: an unsupported challenge or missing
members, a bad TIMESTAMP, a session that does not match the SECRET_BLOCK, a device session
replayed with another device key, a device no longer confirmed asking for the device challenge,
an invalid device SRP_A, and the pool-wide quota (POOL_RATE_LIMIT). Each asserts Cognito's
error type, message and HTTP status as the service words them (service/ops/auth_input.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service.credentials import srp
from service.ops.auth_handles import seal_session
from service.redis_io import keys
from tests.auth_helpers import PASSWORD, user_with_password
from tests.conftest import Admin, boto_client, client_error
from tests.test_auth_refusals import clients, initiate, missing, pool_of

INVALID_SESSION = ("NotAuthorizedException", "Invalid session for the user.", 400)
EXPIRED = ("NotAuthorizedException", "Invalid session for the user, session is expired.", 400)
BAD_SRP_A = ("InvalidParameterException", "SRP_A is not a valid SRP value.", 400)
THROTTLED = ("TooManyRequestsException", "Too many requests", 400)
TIMESTAMP = "Mon Jan 6 12:00:00 UTC 2025"
# A valid SRP_A: g^a mod N for some a (the device step's A; no proof is made from it here).
SRP_A = format(pow(srp.G, 123456789, srp.N), "x")


def refused(fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[str, str, int]:
    """(code, message, HTTP status) of the error `fn(*args, **kw)` raises."""
    with pytest.raises(ClientError) as err:
        fn(*args, **kw)
    return client_error(err)


def respond(cognito: Any, name: str, session: str | None = None, **answers: str) -> Any:
    kw: dict[str, Any] = {"Session": session} if session else {}
    return cognito.respond_to_auth_challenge(
        ClientId="app", ChallengeName=name, ChallengeResponses=answers, **kw
    )


def srp_answers(cognito: Any, admin: Admin, username: str = "alice") -> dict[str, str]:
    """USER_SRP_AUTH's challenge, answered by pycognito: PASSWORD_VERIFIER's right responses."""
    from pycognito.aws_srp import AWSSRP

    aws = AWSSRP(username, PASSWORD, admin.settings.default_pool_id, "app", client=cognito)
    params = aws.get_auth_params()
    challenge = cognito.initiate_auth(
        AuthFlow="USER_SRP_AUTH", ClientId="app", AuthParameters=params
    )
    return dict(aws.process_challenge(challenge["ChallengeParameters"], params))


def confirmed_device(cognito: Any) -> str:
    """Sign alice in (a new device) and confirm that device as AWS's libraries do; its key."""
    from pycognito.aws_srp import generate_hash_device

    result = initiate(cognito, "app", "USER_PASSWORD_AUTH", USERNAME="alice", PASSWORD=PASSWORD)[
        "AuthenticationResult"
    ]
    meta = result["NewDeviceMetadata"]
    _, config = generate_hash_device(meta["DeviceGroupKey"], meta["DeviceKey"])
    cognito.confirm_device(
        AccessToken=result["AccessToken"],
        DeviceKey=meta["DeviceKey"],
        DeviceSecretVerifierConfig=config,
        DeviceName="phone",
    )
    return str(meta["DeviceKey"])


def device_session(cognito: Any, device: str) -> str:
    """A password sign-in presenting a confirmed device: DEVICE_SRP_AUTH's Session."""
    answer = initiate(
        cognito, "app", "USER_PASSWORD_AUTH", USERNAME="alice", PASSWORD=PASSWORD, DEVICE_KEY=device
    )
    assert answer["ChallengeName"] == "DEVICE_SRP_AUTH"
    return str(answer["Session"])


# -- the request ------------------------------------------------------------------------------
def test_an_unsupported_challenge(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    clients(admin)
    session = "s" * 40
    for name in ("SMS_MFA", "SOFTWARE_TOKEN_MFA", "CUSTOM_CHALLENGE", "MFA_SETUP", "EMAIL_OTP"):
        answer = refused(respond, cognito, name, session, USERNAME="alice")
        assert answer == (
            "InvalidParameterException",
            f"The challenge {name} is not supported by this service.",
            400,
        )


def test_missing_members(cognito: Any, admin: Admin) -> None:
    """Each challenge's required ChallengeResponses, checked before its session is opened."""
    user_with_password(admin)
    clients(admin)
    claim = {
        "USERNAME": "alice",
        "PASSWORD_CLAIM_SECRET_BLOCK": "b" * 40,
        "PASSWORD_CLAIM_SIGNATURE": "c" * 44,
        "TIMESTAMP": TIMESTAMP,
    }
    session = "s" * 40
    cases: list[tuple[str, dict[str, str], str]] = []
    for name in ("PASSWORD_VERIFIER", "DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER",
                 "NEW_PASSWORD_REQUIRED"):  # fmt: skip
        cases.append((name, {}, "USERNAME"))
    for member in ("PASSWORD_CLAIM_SECRET_BLOCK", "PASSWORD_CLAIM_SIGNATURE", "TIMESTAMP"):
        less = {k: v for k, v in claim.items() if k != member}
        cases.append(("PASSWORD_VERIFIER", less, member))
        cases.append(("DEVICE_PASSWORD_VERIFIER", {**less, "DEVICE_KEY": "us-east-1_0"}, member))
    cases += [
        ("DEVICE_PASSWORD_VERIFIER", claim, "DEVICE_KEY"),
        ("DEVICE_SRP_AUTH", {"USERNAME": "alice", "SRP_A": SRP_A}, "DEVICE_KEY"),
        ("DEVICE_SRP_AUTH", {"USERNAME": "alice", "DEVICE_KEY": "us-east-1_0"}, "SRP_A"),
        ("NEW_PASSWORD_REQUIRED", {"USERNAME": "alice"}, "NEW_PASSWORD"),
        ("NEW_PASSWORD_REQUIRED", {"USERNAME": "alice", "NEW_PASSWORD": ""}, "NEW_PASSWORD"),
    ]
    for name, answers, member in cases:
        answer = refused(respond, cognito, name, session, **answers)
        assert answer == missing(member), (name, sorted(answers))


def test_a_bad_timestamp(cognito: Any, admin: Admin) -> None:
    """TIMESTAMP is Java's "EEE MMM d HH:mm:ss z yyyy" in English (what AWS's libraries send);
    anything else is refused before the proof is looked at, and the session is not used up."""
    user_with_password(admin)
    clients(admin)
    answers = srp_answers(cognito, admin)
    for stamp in (
        "2025-01-06T12:00:00Z",
        "Mon Jan 6 12:00:00 2025",
        "lun. janv. 6 12:00:00 UTC 2025",
        "Mon Jan 6 25:00:00 UTC 2025",
        "1736164800",
    ):
        answer = refused(respond, cognito, "PASSWORD_VERIFIER", **{**answers, "TIMESTAMP": stamp})
        assert answer == (
            "InvalidParameterException",
            "TIMESTAMP format should be EEE MMM d HH:mm:ss z yyyy in english.",
            400,
        ), stamp
    done = respond(cognito, "PASSWORD_VERIFIER", **answers)
    assert "AccessToken" in done["AuthenticationResult"]


# -- sessions ---------------------------------------------------------------------------------
def test_a_session_that_does_not_match_the_secret_block(cognito: Any, admin: Admin) -> None:
    """The SECRET_BLOCK names PASSWORD_VERIFIER's session; a Session beside it must be the same:
    a right proof with another session's handle beside it signs no one in."""
    user_with_password(admin)
    clients(admin)
    answers = srp_answers(cognito, admin)
    other = srp_answers(cognito, admin)["PASSWORD_CLAIM_SECRET_BLOCK"]
    answer = refused(respond, cognito, "PASSWORD_VERIFIER", other, **answers)
    assert answer == INVALID_SESSION
    # A SECRET_BLOCK this pool never sealed, or sealed for another user.
    user_with_password(admin, "bob")
    bobs = srp_answers(cognito, admin, "bob")["PASSWORD_CLAIM_SECRET_BLOCK"]
    fresh = srp_answers(cognito, admin)
    for block in ("b" * 40, "not base64!", bobs):
        answer = refused(
            respond, cognito, "PASSWORD_VERIFIER", **{**fresh, "PASSWORD_CLAIM_SECRET_BLOCK": block}
        )
        assert answer == INVALID_SESSION, block
    # A session of another challenge: DEVICE_SRP_AUTH's handle is not PASSWORD_VERIFIER's.
    device = confirmed_device(cognito)
    handle = device_session(cognito, device)
    answer = refused(
        respond,
        cognito,
        "PASSWORD_VERIFIER",
        handle,
        **{**fresh, "PASSWORD_CLAIM_SECRET_BLOCK": handle},
    )
    assert answer == INVALID_SESSION
    done = respond(cognito, "PASSWORD_VERIFIER", **fresh)
    assert "AccessToken" in done["AuthenticationResult"]


def test_a_device_session_replayed_with_another_device_key(cognito: Any, admin: Admin) -> None:
    """A device challenge's session is bound to the device it was begun with: another of the
    user's devices, confirmed too, cannot take it over, at either device step."""
    user_with_password(admin)
    clients(admin)
    first, second = confirmed_device(cognito), confirmed_device(cognito)
    session = device_session(cognito, first)
    answer = refused(
        respond,
        cognito,
        "DEVICE_SRP_AUTH",
        session,
        USERNAME="alice",
        DEVICE_KEY=second,
        SRP_A=SRP_A,
    )
    assert answer == INVALID_SESSION
    # DEVICE_PASSWORD_VERIFIER's session (begun with the first device), answered as the second.
    session = device_session(cognito, first)
    step = respond(cognito, "DEVICE_SRP_AUTH", session, USERNAME="alice", DEVICE_KEY=first,
                   SRP_A=SRP_A)  # fmt: skip
    assert step["ChallengeName"] == "DEVICE_PASSWORD_VERIFIER"
    handle = step["Session"]
    answer = refused(
        respond,
        cognito,
        "DEVICE_PASSWORD_VERIFIER",
        handle,
        USERNAME="alice",
        DEVICE_KEY=second,
        PASSWORD_CLAIM_SECRET_BLOCK=handle,
        PASSWORD_CLAIM_SIGNATURE="c" * 44,
        TIMESTAMP=TIMESTAMP,
    )
    assert answer == INVALID_SESSION


def test_an_unconfirmed_device_asking_for_the_device_challenge(cognito: Any, admin: Admin) -> None:
    """A device whose confirmation is gone by the time it answers DEVICE_SRP_AUTH (its record
    unconfirmed in Redis, as an import of an unconfirmed device leaves it) gets no challenge
    to prove against: as if it did not exist."""
    user = user_with_password(admin)
    clients(admin)
    device = confirmed_device(cognito)
    session = device_session(cognito, device)
    admin.redis.hset(user.keys.device(device), "confirmed", "0")
    answer = refused(
        respond,
        cognito,
        "DEVICE_SRP_AUTH",
        session,
        USERNAME="alice",
        DEVICE_KEY=device,
        SRP_A=SRP_A,
    )
    assert answer == ("ResourceNotFoundException", "Device does not exist.", 400)
    # Nor does a password sign-in presenting it ask for the device challenge: tokens at once.
    answer = initiate(
        cognito, "app", "USER_PASSWORD_AUTH", USERNAME="alice", PASSWORD=PASSWORD, DEVICE_KEY=device
    )
    assert "AccessToken" in answer["AuthenticationResult"]


def test_an_invalid_device_srp_a(cognito: Any, admin: Admin) -> None:
    user_with_password(admin)
    clients(admin)
    device = confirmed_device(cognito)
    for srp_a in ("0", format(srp.N, "x"), "not-hex"):
        session = device_session(cognito, device)
        answer = refused(
            respond,
            cognito,
            "DEVICE_SRP_AUTH",
            session,
            USERNAME="alice",
            DEVICE_KEY=device,
            SRP_A=srp_a,
        )
        assert answer == BAD_SRP_A, srp_a


# -- the pool-wide quota ----------------------------------------------------------------------
def test_the_pool_wide_challenge_quota(live_factory: Any) -> None:
    """POOL_RATE_LIMIT: a sign-in's first three responses draw from a bucket three times
    UserAuthentication's, later ones from UserAuthentication, NEW_PASSWORD_REQUIRED from
    UserAccountRecovery (ops/auth_respond.py). Each bucket is one token a second here (three
    for the first), and full at first; the responses name a session that no longer exists, so
    those the quota lets through are refused as expired."""
    server, helper = live_factory(
        pool_rate_limit=True,
        category_rates={"UserAuthentication": 1.0, "UserAccountRecovery": 1.0},
        user_rate_per_s=1000.0,
        user_burst=1000,
    )
    cognito = boto_client(server.url)
    user_with_password(helper)
    clients(helper)
    pool = pool_of(helper)

    def verifier(responses: int) -> tuple[str, str, int]:
        handle = seal_session(pool, "alice", "gone", responses)
        return refused(
            respond,
            cognito,
            "PASSWORD_VERIFIER",
            USERNAME="alice",
            PASSWORD_CLAIM_SECRET_BLOCK=handle,
            PASSWORD_CLAIM_SIGNATURE="c" * 44,
            TIMESTAMP=TIMESTAMP,
        )

    # The first responses of a sign-in: three at once, then the bucket is empty (it refills one
    # token a third of a second; twenty calls take far less than that each).
    assert [verifier(0) for _ in range(3)] == [EXPIRED] * 3
    answers = [verifier(0) for _ in range(20)]
    assert THROTTLED in answers and set(answers) <= {EXPIRED, THROTTLED}, answers
    # A fourth response draws from UserAuthentication's own bucket (full: one token).
    assert verifier(3) == EXPIRED
    assert verifier(3) == THROTTLED
    # NEW_PASSWORD_REQUIRED from UserAccountRecovery's.
    handle = seal_session(pool, "alice", "gone", 1)

    def new_password() -> tuple[str, str, int]:
        return refused(
            respond,
            cognito,
            "NEW_PASSWORD_REQUIRED",
            handle,
            USERNAME="alice",
            NEW_PASSWORD="N3w-password!",
        )

    assert new_password() == EXPIRED
    assert new_password() == THROTTLED
    bucket = keys.pool_bucket(pool.id, "RespondToAuthChallenge")
    assert helper.redis.exists(bucket)
