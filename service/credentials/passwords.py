"""Passwords for the admin plane, never stored: a pool's password policy, and the SRP salt and
verifier a password becomes (service/credentials/srp.py computes them: the same math sign-in
checks).

AdminCreateUser's and AdminSetUserPassword's policy messages start "Password did not conform
with policy:", as SignUp's and the admin calls' do; a new password in a sign-in challenge gets
"Password does not conform to policy:" (service/model/password_policy.py), as ChangePassword's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model.errors import InvalidPasswordException
from . import srp

PASSWORD_MAX = 256
# The policy a pool has when CreateUserPool names none (the console's and the API's default).
DEFAULT_POLICY: dict[str, Any] = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}
# The special characters Cognito's password policy counts as symbols (developer guide, "User
# pool password requirements"), the space among them.
SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")
NOT_CONFORMING = "Password did not conform with policy: "


def stored_fields(pool_id: str, username: str, password: str) -> dict[str, str]:
    """What a user hash keeps of `password`: a fresh salt and its verifier, both hex
    (`srp_salt`, `srp_verifier`), made by service/credentials/srp.py, the one home of the SRP
    math, so the sign-in flows check exactly what this stores."""
    salt, verifier = srp.password_verifier(pool_id, username, password)
    return {"srp_salt": salt, "srp_verifier": verifier}


def check_policy(password: str, policy: Mapping[str, Any] | None) -> None:
    """Raise InvalidPasswordException, with Cognito's message, when `password` breaks the
    pool's PasswordPolicy (None: DEFAULT_POLICY). The first rule broken is reported."""
    p = DEFAULT_POLICY if policy is None else policy
    if len(password) < int(p.get("MinimumLength", DEFAULT_POLICY["MinimumLength"])):
        raise InvalidPasswordException(NOT_CONFORMING + "Password not long enough")
    rules = (
        ("RequireUppercase", str.isupper, "Password must have uppercase characters"),
        ("RequireLowercase", str.islower, "Password must have lowercase characters"),
        ("RequireNumbers", str.isdigit, "Password must have numeric characters"),
        ("RequireSymbols", SYMBOLS.__contains__, "Password must have symbol characters"),
    )
    for member, test, message in rules:
        if p.get(member, False) and not any(test(ch) for ch in password):
            raise InvalidPasswordException(NOT_CONFORMING + message)
