"""Input validation: Cognito's messages byte for byte, and the constraints checked against the
installed botocore model so they cannot drift."""

from __future__ import annotations

import gzip
import importlib
import json
import pkgutil
import random
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore.exceptions import ClientError

from service import ops, store
from service.model import validation
from service.model.errors import InvalidParameterException, SerializationException
from service.model.validation import (
    GET_DEVICE_INPUT,
    IntMember,
    StringMember,
    StructMember,
    validate,
)
from service.ops.devices import ACCESS_TOKEN as ACCESS_TOKEN_MEMBER
from tests.conftest import Admin, LiveServer
from tests.helpers_tokens import assert_boto_error, assert_cognito_error, call

KEY_PATTERN = r"[\w-]+_[0-9a-f-]+"
TOKEN_PATTERN = "[A-Za-z0-9-_=.]+"


def where(value: str | None, member: str) -> str:
    shown = (
        "Value null at"
        if value is None
        else ("Value at" if member == "accessToken" else f"Value '{value}' at")
    )
    return f"{shown} '{member}' failed to satisfy constraint: "


def key_pattern(value: str | None) -> str:
    return (
        where(value, "deviceKey") + f"Member must satisfy regular expression pattern: {KEY_PATTERN}"
    )


def token_pattern() -> str:
    return (
        where("x", "accessToken")
        + f"Member must satisfy regular expression pattern: {TOKEN_PATTERN}"
    )


def detected(*failures: str) -> str:
    n = len(failures)
    return f"{n} validation error{'' if n == 1 else 's'} detected: " + "; ".join(failures)


LONG_BAD = "us-east-1_" + "g" * 50  # 60 characters, and g is not hex
LONG_GOOD = "us-east-1_" + "a" * 46  # 56 characters of a valid pattern

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("pattern", {"DeviceKey": "abc"}, detected(key_pattern("abc"))),
    ("uppercase hex", {"DeviceKey": "us-east-1_ABC"}, detected(key_pattern("us-east-1_ABC"))),
    ("non-ASCII word character", {"DeviceKey": "ré_0"}, detected(key_pattern("ré_0"))),
    ("trailing newline", {"DeviceKey": "a_0\n"}, detected(key_pattern("a_0\n"))),
    ("null", {"DeviceKey": None}, detected(where(None, "deviceKey") + "Member must not be null")),
    ("missing", {}, detected(where(None, "deviceKey") + "Member must not be null")),
    (
        "too long, and the pattern fails: length first",
        {"DeviceKey": LONG_BAD},
        detected(
            where(LONG_BAD, "deviceKey") + "Member must have length less than or equal to 55",
            key_pattern(LONG_BAD),
        ),
    ),
    (
        "too long, pattern fine",
        {"DeviceKey": LONG_GOOD},
        detected(
            where(LONG_GOOD, "deviceKey") + "Member must have length less than or equal to 55"
        ),
    ),
    (
        "empty",
        {"DeviceKey": ""},
        detected(
            where("", "deviceKey") + "Member must have length greater than or equal to 1",
            key_pattern(""),
        ),
    ),
    (
        "sensitive access token",
        {"DeviceKey": "a_0", "AccessToken": "s3cr3t!value"},
        detected(token_pattern()),
    ),
    ("empty access token", {"DeviceKey": "a_0", "AccessToken": ""}, detected(token_pattern())),
    (
        "two members",
        {"DeviceKey": "abc", "AccessToken": "s3cr3t value"},
        detected(key_pattern("abc"), token_pattern()),
    ),
    (
        "null key and a bad token",
        {"AccessToken": "bad token"},
        detected(where(None, "deviceKey") + "Member must not be null", token_pattern()),
    ),
    (
        "three failures",
        {"DeviceKey": LONG_BAD, "AccessToken": "bad token"},
        detected(
            where(LONG_BAD, "deviceKey") + "Member must have length less than or equal to 55",
            key_pattern(LONG_BAD),
            token_pattern(),
        ),
    ),
]


@pytest.mark.parametrize(("name", "body", "message"), CASES, ids=[c[0] for c in CASES])
def test_messages(name: str, body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterException) as info:
        validate(body, GET_DEVICE_INPUT)
    assert info.value.message == message
    assert info.value.status == 400
    assert info.value.type_name == "InvalidParameterException"


@pytest.mark.parametrize(("name", "body", "message"), CASES, ids=[c[0] for c in CASES])
def test_messages_on_the_wire(
    live_session: LiveServer, name: str, body: dict[str, Any], message: str
) -> None:
    answer = call(live_session.url, body)
    if "\n" in message:
        # A header cannot carry a newline; the body carries the message exactly.
        assert (answer.status, answer.json()) == (
            400,
            {"__type": "InvalidParameterException", "message": message},
        )
    else:
        assert_cognito_error(answer, "InvalidParameterException", message, 400)
    secret = body.get("AccessToken")
    if secret:
        assert secret.encode() not in answer.body
        assert all(secret not in v for v in answer.headers.values())


def test_messages_through_boto3(cognito: Any, admin: Admin) -> None:
    # boto3 sends bad patterns, over-long keys and an empty AccessToken to the server.
    for kwargs, message in (
        ({"DeviceKey": "abc", "AccessToken": "a.b.c"}, detected(key_pattern("abc"))),
        ({"DeviceKey": LONG_BAD, "AccessToken": "a.b.c"}, CASES[6][2]),
        ({"DeviceKey": "a_0", "AccessToken": ""}, detected(token_pattern())),
        (
            {"DeviceKey": "abc", "AccessToken": "s3cr3t value"},
            detected(key_pattern("abc"), token_pattern()),
        ),
    ):
        with pytest.raises(ClientError) as info:
            cognito.get_device(**kwargs)
        assert_boto_error(info, "InvalidParameterException", message, 400)


@pytest.mark.parametrize(
    "key",
    [
        "us-east-1_07032954-25bf-4781-b596-9d675d901072",
        "a_0",
        "__0",
        "a-b_c",
        "a_b_c",
        "A1_-",
        "us-east-1_" + "a" * 45,
    ],
)
def test_valid_keys(key: str) -> None:
    assert len(key) <= 55
    assert validate({"DeviceKey": key, "AccessToken": "aB0-_=.x"}, GET_DEVICE_INPUT) == {
        "DeviceKey": key,
        "AccessToken": "aB0-_=.x",
    }


def test_access_token_is_optional() -> None:
    assert validate({"DeviceKey": "a_0"}, GET_DEVICE_INPUT) == {
        "DeviceKey": "a_0",
        "AccessToken": None,
    }
    assert (
        validate({"DeviceKey": "a_0", "AccessToken": None}, GET_DEVICE_INPUT)["AccessToken"] is None
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1, "NUMBER_VALUE can not be converted to a String"),
        (True, "TRUE_VALUE can not be converted to a String"),
        (False, "FALSE_VALUE can not be converted to a String"),
        ({}, "Start of structure or map found where not expected."),
        ([], "Start of list found where not expected"),
    ],
)
def test_wrong_types_are_serialization_errors(value: Any, message: str) -> None:
    with pytest.raises(SerializationException) as info:
        validate({"DeviceKey": value}, GET_DEVICE_INPUT)
    assert info.value.message == message


# -- the constraints against the installed botocore model --------------------------------------
def _model() -> dict[str, Any]:
    data = Path(botocore.__file__).parent / "data" / "cognito-idp"
    [path] = sorted(data.glob("*/service-2.json.gz"))[-1:]
    return json.loads(gzip.decompress(path.read_bytes()))  # type: ignore[no-any-return]


def test_constraints_match_the_botocore_model() -> None:
    model = _model()
    request = model["shapes"][model["operations"]["GetDevice"]["input"]["shape"]]
    members = request["members"]
    assert [m.name for m in GET_DEVICE_INPUT] == list(members)  # also the order of messages
    for member in GET_DEVICE_INPUT:
        shape = model["shapes"][members[member.name]["shape"]]
        assert shape["type"] == "string", member.name
        assert member.required == (member.name in request.get("required", [])), member.name
        assert member.min_len == shape.get("min"), member.name
        assert member.max_len == shape.get("max"), member.name
        assert member.pattern == shape.get("pattern"), member.name
        assert member.sensitive == bool(shape.get("sensitive", False)), member.name
        assert member.wire_name == member.name[0].lower() + member.name[1:]


def test_the_model_still_says_what_the_reference_says() -> None:
    # If these change, REFERENCE.md and docs/errors.md need a look too.
    model = _model()
    shapes = model["shapes"]
    assert model["metadata"]["targetPrefix"] == "AWSCognitoIdentityProviderService"
    assert model["metadata"]["jsonVersion"] == "1.1"
    assert model["operations"]["GetDevice"]["authtype"] == "none"
    assert shapes["DeviceKeyType"]["pattern"] == KEY_PATTERN
    assert shapes["TokenModelType"]["pattern"] == TOKEN_PATTERN


# -- the quick pattern check against the regex engine ------------------------------------------
def _string_members() -> set[StringMember]:
    """Every string member of every shape the service validates."""
    found: set[StringMember] = set()

    def walk(value: Any) -> None:
        if isinstance(value, StringMember):
            found.add(value)
        elif isinstance(value, StructMember):
            walk(value.members)
        elif isinstance(value, tuple):
            for item in value:
                walk(item)
        elif isinstance(value, type):
            walk(getattr(value, "shape", ()))

    modules = [validation]
    for info in pkgutil.iter_modules(ops.__path__, "service.ops."):
        modules.append(importlib.import_module(info.name))
    for module in modules:
        for value in vars(module).values():
            walk(value)
    return found


# ASCII edge cases for every class; non-ASCII values always go through the regex engine.
_PROBES = ["", "a", "A", "0", "-", "_", "=", ".", "+", "/", " ", "\t", "\n", "}", "]", "\\"]


def test_one_class_patterns_are_checked_as_the_regex_engine_checks_them() -> None:
    members = _string_members()
    quick = [m for m in members if m.charset is not None]
    assert ACCESS_TOKEN_MEMBER in quick  # the one this is for: matched before every verification
    assert len(quick) >= 5, sorted(m.pattern or "" for m in quick)
    randomly = random.Random(7)
    alphabet = [chr(c) for c in range(128)] + ["é", "名", "\u00a0"]
    for member in quick:
        assert member.regex is not None
        values = list(_PROBES) + [chr(c) * 3 for c in range(128)]
        values += [
            "".join(randomly.choices(alphabet, k=randomly.randint(1, 40))) for _ in range(400)
        ]
        values += ["".join(randomly.choices(alphabet[48:123], k=200)) for _ in range(50)]
        for value in values:
            expected = member.regex.fullmatch(value) is not None
            assert member.matches(value) == expected, (member.name, member.pattern, value)


def test_other_patterns_use_the_regex_engine() -> None:
    key = next(m for m in GET_DEVICE_INPUT if m.name == "DeviceKey")
    assert key.charset is None
    assert key.matches("us-east-1_abc") and not key.matches("us-east-1_XYZ")


def test_a_token_shaped_like_ours_still_has_its_pattern_checked(
    live: LiveServer, admin: Admin
) -> None:
    # The pattern is matched only before an unverified token is judged: a token whose header
    # and payload read as one of ours (so it is routed to Redis and misses there) must still
    # get the validation error first, alone or with another member's.
    _, device, token = admin.user_with_device()
    assert call(live.url, {"AccessToken": token, "DeviceKey": device}).status == 200
    head, payload, signature = token.split(".")
    for bad in (f"{token}!", f"{head}.{payload}.{signature[:-4]} {signature[-3:]}", f"{token}é"):
        assert_cognito_error(
            call(live.url, {"AccessToken": bad, "DeviceKey": device}),
            "InvalidParameterException",
            detected(token_pattern()),
            400,
        )
        assert_cognito_error(
            call(live.url, {"AccessToken": bad, "DeviceKey": "abc"}),
            "InvalidParameterException",
            detected(key_pattern("abc"), token_pattern()),
            400,
        )
    # The good token is still served (and from the route cache, unmatched).
    assert call(live.url, {"AccessToken": token, "DeviceKey": device}).status == 200
    # In a pool with device tracking off, the pool's own refusal comes only after the pattern.
    admin.run(
        lambda r: store.create_pool(r, admin.settings, "us-east-1_NoTrack", device_tracking=False)
    )
    admin.wait_pools()
    admin.create_user("bob", pool_id="us-east-1_NoTrack")
    other = admin.token("bob", pool_id="us-east-1_NoTrack")
    assert_cognito_error(
        call(live.url, {"AccessToken": f"{other}!", "DeviceKey": device}),
        "InvalidParameterException",
        detected(token_pattern()),
        400,
    )
    assert call(live.url, {"AccessToken": other, "DeviceKey": device}).error[0] == (
        "InvalidUserPoolConfigurationException"
    )


# -- validate()'s fast path against its full path ----------------------------------------------
def _shapes() -> list[tuple[Any, ...]]:
    """Every input shape the service validates (operations' `shape`, and module-level shapes)."""
    found: dict[int, tuple[Any, ...]] = {}
    modules = [validation]
    for info in pkgutil.iter_modules(ops.__path__, "service.ops."):
        modules.append(importlib.import_module(info.name))
    for module in modules:
        for value in vars(module).values():
            shape = getattr(value, "shape", value) if isinstance(value, type) else value
            if (
                isinstance(shape, tuple)
                and shape
                and all(isinstance(m, StringMember | IntMember | StructMember) for m in shape)
            ):
                found[id(shape)] = shape
    return list(found.values())


def _candidates(member: Any, randomly: random.Random) -> list[Any]:
    if isinstance(member, StructMember):
        inner = {m.name: randomly.choice(_candidates(m, randomly)) for m in member.members}
        return [None, {}, "x", [], inner, {k: v for k, v in inner.items() if v is not None}]
    if isinstance(member, IntMember):
        return [None, 0, 1, 60, 61, -1, 1.0, 1.5, True, "5", {}]
    good = ["us-east-1_0a1b2c3d-0000-4000-8000-00000000abcd", "abc", "remembered", "a.b-c_d="]
    sizes = [member.min_len or 0, member.max_len or 0]
    return (
        [None, "", 5, True, [], {}, "x y", *good]
        + ["x" * n for n in sizes]
        + ["x" * (n + 1) for n in sizes]
    )


def _outcome(check: Any, body: dict[str, Any], shape: tuple[Any, ...], known: Any) -> Any:
    try:
        return ("ok", check(body, shape, known))
    except (InvalidParameterException, SerializationException) as exc:
        return (type(exc).__name__, str(exc))


def test_the_fast_path_answers_as_the_full_path_does() -> None:
    shapes = _shapes()
    assert len(shapes) >= 10, len(shapes)
    randomly = random.Random(11)
    fast_taken = 0
    for shape in shapes:
        for _ in range(300):
            body = {}
            for member in shape:
                if randomly.random() < 0.85:
                    body[member.name] = randomly.choice(_candidates(member, randomly))
            known = tuple(v for v in body.values() if isinstance(v, str))[:1]
            expected = _outcome(validation.validate_fully, body, shape, known)
            assert _outcome(validate, body, shape, known) == expected, body
            fast_taken += expected[0] == "ok"
    assert fast_taken > 100  # the comparison covered accepted bodies, not only failures
