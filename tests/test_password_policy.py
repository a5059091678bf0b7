"""A pool's password policy (service/model/password_policy.py): parsing PasswordPolicyType, the
first rule a password breaks with Cognito's message, and those messages over the wire at the
NEW_PASSWORD_REQUIRED step (boto3 against the live server)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from service.model.password_policy import DEFAULT, PREFIX, Policy, parse, violation
from tests.auth_helpers import PASSWORD, default_client, user_with_password
from tests.conftest import Admin, client_error

SHORT = PREFIX + "Password not long enough"
LOWER = PREFIX + "Password must have lowercase characters"
UPPER = PREFIX + "Password must have uppercase characters"
NUMBER = PREFIX + "Password must have numeric characters"
SYMBOL = PREFIX + "Password must have symbol characters"
# A password that breaks one default rule each, and the message it gets: the first rule broken,
# in Cognito's order (length, lower, upper, numbers, symbols).
BREAKS = [
    ("Sh0rt-x", SHORT),
    ("ALL-UPPER-1", LOWER),
    ("all-lower-1", UPPER),
    ("No-Numbers-Here", NUMBER),
    ("N0Symbols1nIt", SYMBOL),
    ("", SHORT),
    ("1234567-", LOWER),
]


def test_parse_defaults_and_members() -> None:
    assert parse({}) == DEFAULT == Policy()
    assert parse({"MinimumLength": 6, "RequireUppercase": False, "RequireLowercase": False,
                  "RequireNumbers": False, "RequireSymbols": False}) == Policy(
        6, require_uppercase=False, require_lowercase=False, require_numbers=False,
        require_symbols=False,
    )  # fmt: skip
    # Members CreateUserPool has that the check does not use are ignored.
    assert parse({"MinimumLength": 99, "TemporaryPasswordValidityDays": 7}).minimum_length == 99


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "password_policy must be an object"),
        ("MinimumLength=8", "password_policy must be an object"),
        ({"MinimumLength": 5}, "MinimumLength must be 6 to 99"),
        ({"MinimumLength": 100}, "MinimumLength must be 6 to 99"),
        ({"MinimumLength": "8"}, "MinimumLength must be 6 to 99"),
        ({"MinimumLength": 8.0}, "MinimumLength must be 6 to 99"),
        ({"MinimumLength": True}, "MinimumLength must be 6 to 99"),
        ({"RequireUppercase": "true"}, "RequireUppercase must be true or false"),
        ({"RequireLowercase": 1}, "RequireLowercase must be true or false"),
        ({"RequireNumbers": None}, "RequireNumbers must be true or false"),
        ({"RequireSymbols": 0}, "RequireSymbols must be true or false"),
    ],
)
def test_parse_refuses_a_malformed_policy(raw: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse(raw)
    assert str(err.value) == message


@pytest.mark.parametrize(("password", "message"), BREAKS)
def test_the_first_rule_broken(password: str, message: str) -> None:
    assert violation(DEFAULT, password) == message


def test_a_relaxed_policy() -> None:
    assert violation(DEFAULT, "Corr3ct-Horse!") is None
    # Every symbol Cognito counts (the space among them) satisfies RequireSymbols alone.
    for symbol in "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ":
        assert violation(DEFAULT, "Abcdef1" + symbol) is None, symbol
    lax = Policy(minimum_length=6, require_uppercase=False, require_lowercase=False,
                 require_numbers=False, require_symbols=False)  # fmt: skip
    assert violation(lax, "aaaaaa") is None and violation(lax, "      ") is None
    assert violation(lax, "aaaaa") == SHORT
    assert violation(Policy(minimum_length=12), "Sh0rt-but-8") == SHORT
    assert violation(Policy(require_symbols=False), "N0Symbols1nIt") is None
    assert violation(Policy(require_numbers=False), "No-Numbers-Here") is None


def test_the_new_password_step_names_the_rule_broken(cognito: Any, admin: Admin) -> None:
    """Each refusal leaves the session usable: the policy is checked before it is used up."""
    user_with_password(admin, permanent=False)
    client_id = default_client(admin)
    challenge = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
    )
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"

    def answer(password: str) -> Any:
        return cognito.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=challenge["Session"],
            ChallengeResponses={"USERNAME": "alice", "NEW_PASSWORD": password},
        )

    for password, message in BREAKS:
        if not password:
            continue  # an empty NEW_PASSWORD is a missing one (tests/test_auth_refusals_respond)
        with pytest.raises(ClientError) as err:
            answer(password)
        assert client_error(err) == ("InvalidPasswordException", message, 400), password
    assert "AccessToken" in answer("N3w-password!")["AuthenticationResult"]
