"""A user pool's password policy, checked with Cognito's messages (InvalidPasswordException).

A pool record may hold `password_policy`, a JSON object with CreateUserPool's PasswordPolicyType
members (MinimumLength, RequireUppercase, RequireLowercase, RequireNumbers, RequireSymbols);
without one, Cognito's default applies: at least 8 characters, with upper- and lower-case
letters, a number and a symbol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The characters Cognito counts as symbols (the developer guide's "User pool password
# requirements"): ^ $ * . [ ] { } ( ) ? " ! @ # % & / \ , > < ' : ; | _ ~ ` = + - and space.
SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")
PREFIX = "Password does not conform to policy: "


@dataclass(frozen=True)
class Policy:
    minimum_length: int = 8
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True


DEFAULT = Policy()


def parse(raw: Any) -> Policy:
    """A PasswordPolicyType object as a Policy (ValueError when malformed)."""
    if not isinstance(raw, dict):
        raise ValueError("password_policy must be an object")
    length = raw.get("MinimumLength", 8)
    if isinstance(length, bool) or not isinstance(length, int) or not 6 <= length <= 99:
        raise ValueError("MinimumLength must be 6 to 99")
    flags = {}
    for member, name in (
        ("RequireUppercase", "require_uppercase"),
        ("RequireLowercase", "require_lowercase"),
        ("RequireNumbers", "require_numbers"),
        ("RequireSymbols", "require_symbols"),
    ):
        value = raw.get(member, True)
        if not isinstance(value, bool):
            raise ValueError(f"{member} must be true or false")
        flags[name] = value
    return Policy(minimum_length=length, **flags)


def violation(policy: Policy, password: str) -> str | None:
    """Cognito's message for the first rule `password` breaks, or None."""
    if len(password) < policy.minimum_length:
        return PREFIX + "Password not long enough"
    if policy.require_lowercase and not any(c.islower() for c in password):
        return PREFIX + "Password must have lowercase characters"
    if policy.require_uppercase and not any(c.isupper() for c in password):
        return PREFIX + "Password must have uppercase characters"
    if policy.require_numbers and not any(c.isdigit() for c in password):
        return PREFIX + "Password must have numeric characters"
    if policy.require_symbols and not any(c in SYMBOLS for c in password):
        return PREFIX + "Password must have symbol characters"
    return None
