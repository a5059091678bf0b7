"""Input validation from the botocore model's shapes, with Cognito's exact messages.

The constraints are copied here so the service needs no botocore at run time;
tests/test_validation.py checks them against the installed model so they cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .errors import InvalidParameterException, SerializationException


@dataclass(frozen=True)
class StringMember:
    """One string member of an input shape, with the model's constraints."""

    name: str  # as in the JSON body: DeviceKey
    required: bool = False
    min_len: int | None = None
    max_len: int | None = None
    pattern: str | None = None
    sensitive: bool = False

    @property
    def wire_name(self) -> str:
        """The lowerCamelCase name that Cognito's messages use."""
        return self.name[0].lower() + self.name[1:]

    @cached_property
    def regex(self) -> re.Pattern[str] | None:
        # Java's \w (what Cognito runs) is ASCII-only; re.ASCII matches it. Compiled once.
        return re.compile(self.pattern, re.ASCII) if self.pattern else None


GET_DEVICE_INPUT: tuple[StringMember, ...] = (
    StringMember("DeviceKey", required=True, min_len=1, max_len=55, pattern=r"[\w-]+_[0-9a-f-]+"),
    StringMember("AccessToken", pattern=r"[A-Za-z0-9-_=.]+", sensitive=True),
)

_JSON_TYPE_NAMES = {bool: "TRUE_VALUE", int: "NUMBER_VALUE", float: "NUMBER_VALUE"}


def _type_error(value: Any) -> SerializationException:
    if isinstance(value, bool):
        kind = "TRUE_VALUE" if value else "FALSE_VALUE"
    elif isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected.")
    elif isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    else:
        kind = _JSON_TYPE_NAMES.get(type(value), "VALUE")
    return SerializationException(f"{kind} can not be converted to a String")


def _quoted(member: StringMember, value: str | None) -> str:
    if value is None:
        return "Value null at"
    if member.sensitive:
        return "Value at"
    return f"Value '{value}' at"


def _constraints_failed(
    member: StringMember, value: str | None, known: Container[str]
) -> list[str]:
    """The constraints `value` breaks, in Cognito's order (length before pattern)."""
    if value is None:
        return ["Member must not be null"] if member.required else []
    broken = []
    if member.min_len is not None and len(value) < member.min_len:
        broken.append(f"Member must have length greater than or equal to {member.min_len}")
    if member.max_len is not None and len(value) > member.max_len:
        broken.append(f"Member must have length less than or equal to {member.max_len}")
    regex = member.regex
    if regex is not None and value not in known and regex.fullmatch(value) is None:
        broken.append(f"Member must satisfy regular expression pattern: {member.pattern}")
    return broken


def validate(
    body: dict[str, Any],
    members: tuple[StringMember, ...],
    known: Container[str] = (),
) -> dict[str, str | None]:
    """Check `body` against `members`; return the members' values.

    Wrong JSON types are SerializationException (as the AWS JSON protocol answers them);
    constraint failures are one InvalidParameterException listing every failure. Values in
    `known` passed these checks before (verified tokens): their pattern match is skipped, since
    a 1 KB token costs microseconds to match on every request.
    """
    values: dict[str, str | None] = {}
    failures: list[str] = []
    for member in members:
        value = body.get(member.name)
        if value is not None and not isinstance(value, str):
            raise _type_error(value)
        values[member.name] = value
        broken = _constraints_failed(member, value, known)
        if broken:
            where = f"{_quoted(member, value)} '{member.wire_name}' failed to satisfy constraint: "
            failures.extend(where + text for text in broken)
    if failures:
        count = len(failures)
        noun = "error" if count == 1 else "errors"
        raise InvalidParameterException(
            f"{count} validation {noun} detected: " + "; ".join(failures)
        )
    return values
