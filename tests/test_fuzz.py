"""Property-based: whatever bytes and headers arrive, the answer is Cognito-shaped JSON, never
a 500.

Synchronous on purpose (http.client): hypothesis drives the examples, the live server runs in its
own thread and loop.
"""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.model.catalog import COGNITO_OPERATIONS
from tests.conftest import Admin, LiveServer
from tests.helpers_tokens import AMZ_JSON, TARGET, TARGET_PREFIX, Answer, call, is_uuid

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ALLOWED_STATUSES = {200, 400, 403, 404, 413}

# Header text that http.client can send and an HTTP parser must accept: visible ASCII, space,
# and the latin-1 upper half (which arrives as raw bytes, not valid UTF-8).
HEADER_CHARS = st.characters(codec="latin-1", exclude_categories=["Cc"], exclude_characters="\x7f")
header_text = st.text(HEADER_CHARS, max_size=40).map(str.strip)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=60),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def member_values(valid: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        json_values,
        st.sampled_from(valid),
        st.text(alphabet=string.ascii_letters + string.digits + "-_=.", max_size=70),
        st.from_regex(r"[\w-]{1,30}_[0-9a-f-]{1,30}", fullmatch=True),
    )


def bodies(valid_keys: list[str], valid_tokens: list[str]) -> st.SearchStrategy[bytes]:
    request = st.fixed_dictionaries(
        {},
        optional={
            "DeviceKey": member_values(valid_keys),
            "AccessToken": member_values(valid_tokens),
            "Extra": json_values,
        },
    )
    return st.one_of(
        request.map(lambda d: json.dumps(d).encode()),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=300),
        st.sampled_from([b"", b"{", b"null", b"[]", b"{}", b" " * 70_000]),
        request.map(lambda d: json.dumps(d).encode()).map(lambda b: b[: max(0, len(b) - 1)]),
    )


targets = st.one_of(
    st.none(),
    st.just(TARGET),
    st.sampled_from(sorted(COGNITO_OPERATIONS)).map(lambda op: TARGET_PREFIX + op),
    header_text.map(lambda t: TARGET_PREFIX + t),
    header_text,
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            AMZ_JSON,
            "application/x-amz-json-1.0",
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ]
    ),
    header_text,
)
methods_and_paths = st.one_of(
    st.just(("POST", "/")),
    st.tuples(
        st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
        st.text(string.ascii_letters + string.digits + "/._-~%", max_size=30).map(
            lambda p: "/" + p
        ),
    ),
)
extra_headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Forwarded-For",
            "Forwarded",
            "X-Amz-Date",
            "Authorization",
            "X-Amz-User-Agent",
            "Accept",
            "Accept-Encoding",
            "X-Amzn-Trace-Id",
            "Content-Encoding",
        ]
    ),
    st.one_of(header_text, st.sampled_from(["gzip", "deflate", "identity", "br"])),
    max_size=3,
)


CORS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date",
}


def check(answer: Answer, *, preflight: bool = False) -> None:
    assert {k: answer.headers.get(k) for k in CORS} == CORS, answer.headers
    if preflight and answer.status == 200:  # OPTIONS /: the CORS preflight's empty answer
        assert answer.body == b""
        assert answer.headers["access-control-allow-methods"] == "POST, OPTIONS"
        assert is_uuid(answer.headers.get("x-amzn-requestid", "")), answer.headers
        return
    assert answer.status in ALLOWED_STATUSES, (answer.status, answer.body[:300])
    assert answer.headers.get("content-type") == AMZ_JSON, answer.headers
    assert is_uuid(answer.headers.get("x-amzn-requestid", "")), answer.headers
    doc = json.loads(answer.body)
    assert isinstance(doc, dict)
    if answer.status == 200:
        assert set(doc) == {"Device"}
        return
    assert set(doc) == {"__type", "message"}, doc
    assert isinstance(doc["__type"], str) and doc["__type"].endswith("Exception")
    assert isinstance(doc["message"], str) and doc["message"]
    assert answer.headers.get("x-amzn-errortype") == doc["__type"] + ":"


def test_random_requests_get_cognito_shaped_answers(live: LiveServer, admin: Admin) -> None:
    _, device, token = admin.user_with_device("fuzz")
    other_user = admin.create_user("other")
    other_device = admin.add_device(other_user)
    keys_ = [device, other_device]
    tokens_ = [token, admin.token("fuzz", ttl_s=-1), admin.token("fuzz", scopes=["openid"])]

    @FUZZ
    @given(
        body=bodies(keys_, tokens_),
        target=targets,
        content_type=content_types,
        method_and_path=methods_and_paths,
        headers=extra_headers,
    )
    def prop(
        body: bytes,
        target: str | None,
        content_type: str | None,
        method_and_path: tuple[str, str],
        headers: dict[str, str],
    ) -> None:
        method, path = method_and_path
        check(
            call(
                live.url,
                body,
                target=target,
                content_type=content_type,
                method=method,
                path=path,
                headers=headers,
            ),
            preflight=(method, path) == ("OPTIONS", "/"),
        )

    prop()


def test_random_get_device_members(live: LiveServer, admin: Admin) -> None:
    """Well-formed requests with random member values: validation and tokens, never a 500."""
    _, device, token = admin.user_with_device("fuzz2")

    @FUZZ
    @given(
        key=member_values([device, device.upper(), device + "0"]),
        access=member_values([token, token[:-1], token.replace(".", "..", 1)]),
    )
    def prop(key: Any, access: Any) -> None:
        answer = call(live.url, {"DeviceKey": key, "AccessToken": access})
        check(answer)
        assert answer.status in (200, 400)

    prop()
