"""The AWS JSON 1.1 wire format: request targets, bodies, success and error responses."""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

import orjson

from ..model.errors import CognitoError, SerializationException, UnknownOperationException
from . import cors
from .answer import Answer

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
ACCEPTED_CONTENT_TYPES = frozenset(
    {"application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json", ""}
)


class RequestIds:
    """UUID-shaped request ids: a random per-process prefix and a counter.

    uuid4() per request costs a urandom call; this costs a format. The ids stay unique across
    workers because each process draws its own 80-bit prefix.
    """

    def __init__(self) -> None:
        raw = os.urandom(10).hex()
        variant = "89ab"[int(raw[15], 16) % 4]
        self._prefix = f"{raw[:8]}-{raw[8:12]}-4{raw[12:15]}-{variant}{raw[16:19]}-"
        self._counter = itertools.count(int.from_bytes(os.urandom(3), "big") << 24)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


# A caller's X-Request-Id (a proxy's, such as nginx's 32 hex digits, or a UUID) is logged and
# echoed only if it is short and made of token characters (RFC 9110's tchar, and `/`, `=`, `:`
# and `@` of base64 and trace ids): it goes into a header and a log line as it came, so no
# spaces, quotes, control bytes or anything that could forge a header or a log field.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~/=:@]{1,128}")


# Looked up on every API request: about 60 ns when absent, as it is from every SDK (measured
# on this machine's multidict 7; with the API's ~60 us a request, 0.1 %).
X_REQUEST_ID = "X-Request-Id"


def echoed_id(incoming: str, ours: str) -> str:
    """What to echo as X-Request-Id: the caller's own when valid, else ours."""
    return incoming if _REQUEST_ID_RE.fullmatch(incoming) else ours


def request_id(incoming: str | None, ids: RequestIds) -> tuple[str, str | None]:
    """This answer's x-amzn-RequestId (always ours, UUID-shaped as Cognito's) and what to echo
    as X-Request-Id: the caller's own when valid, ours when it sent one that is not, and
    nothing when it sent none (Cognito sends no X-Request-Id)."""
    ours = ids.next()
    return ours, None if incoming is None else echoed_id(incoming, ours)


def parse_target(target: str | None) -> str:
    """The operation name from `X-Amz-Target`, or UnknownOperationException."""
    if not target or not target.startswith(TARGET_PREFIX):
        raise UnknownOperationException(
            f"Unknown operation {target!r}: expected X-Amz-Target: {TARGET_PREFIX}<Operation>"
            if target
            else "Missing X-Amz-Target header"
        )
    return target[len(TARGET_PREFIX) :]


def parse_body(raw: bytes) -> dict[str, Any]:
    """Decode a request body: empty means `{}`; anything but a JSON object is an error."""
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SerializationException("The request body is not valid JSON.") from None
    if isinstance(body, dict):
        return body
    if body is None:  # a JSON null body is no members at all, as for an empty one
        return {}
    if isinstance(body, list):
        raise SerializationException("Start of list found where not expected")
    raise SerializationException("Expected map or null")


_UNSAFE = re.compile(r"[^\x20-\x7e]")


MAX_HEADER_MESSAGE = 1024


def _header_safe(text: str) -> str:
    # Messages can quote client input (a bad DeviceKey): a header value must stay one short line
    # of printable ASCII, so anything else becomes "?" and long ones are cut (clients' header
    # line limits are far below our body limit). The JSON body keeps the exact text.
    if len(text) > MAX_HEADER_MESSAGE:
        text = text[: MAX_HEADER_MESSAGE - 3] + "..."
    return _UNSAFE.sub("?", text)


# Every API answer's constant headers, the CORS ones included, rendered once.
_HEAD = (
    f"Content-Type: {JSON_CONTENT_TYPE}\r\n".encode() + cors.HEADER_LINES + b"x-amzn-RequestId: "
)


def _echo(x_request_id: str | None) -> bytes:
    return b"" if x_request_id is None else b"X-Request-Id: " + x_request_id.encode() + b"\r\n"


def ok(payload: bytes, request_id: str, x_request_id: str | None = None) -> Answer:
    """A 200 answer whose body is already-serialised JSON."""
    lines = _HEAD + request_id.encode() + b"\r\n"
    if x_request_id is not None:
        lines += _echo(x_request_id)
    return Answer(200, lines, payload, request_id=request_id, x_request_id=x_request_id)


def preflight(request_id: str, x_request_id: str | None = None) -> Answer:
    """The answer to a browser's CORS preflight, `OPTIONS /`: 200, no body (see
    service/http/cors.py)."""
    lines = cors.PREFLIGHT_LINES + b"x-amzn-RequestId: " + request_id.encode() + b"\r\n"
    lines += _echo(x_request_id)
    return Answer(200, lines, b"", request_id=request_id, x_request_id=x_request_id)


def error(exc: CognitoError, request_id: str, x_request_id: str | None = None) -> Answer:
    """The JSON 1.1 error answer for `exc`, as Cognito shapes it."""
    try:
        body = orjson.dumps({"__type": exc.type_name, "message": exc.message})
    except TypeError:
        # The message quotes client input that was not valid UTF-8 (lone surrogates).
        exc.message = exc.message.encode("utf-8", "backslashreplace").decode()
        body = orjson.dumps({"__type": exc.type_name, "message": exc.message})
    lines = (
        _HEAD
        + (
            f"{request_id}\r\n"
            f"x-amzn-ErrorType: {exc.type_name}:\r\n"
            f"x-amzn-ErrorMessage: {_header_safe(exc.message)}\r\n"
        ).encode()
        + _echo(x_request_id)
    )
    return Answer(
        exc.status,
        lines,
        body,
        request_id=request_id,
        error_type=exc.type_name,
        x_request_id=x_request_id,
    )
