"""Helpers shared by the test modules: raw AWS JSON 1.1 calls, forged tokens, Redis inspection.

Everything here is synchronous (http.client, redis-py), so it also works inside hypothesis
tests; async tests call it through asyncio.to_thread or use aiohttp directly.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256
from jose import jwk

from service.credentials import tokens
from service.credentials.pool import Pool
from service.redis_io import keys

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
TARGET = TARGET_PREFIX + "GetDevice"
AMZ_JSON = "application/x-amz-json-1.1"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_DEFAULT = object()


@dataclass
class Answer:
    """One raw HTTP answer."""

    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> tuple[str, str, int]:
        """(__type, message, status) of a Cognito-shaped error answer."""
        doc = self.json()
        return doc["__type"], doc["message"], self.status


def call(
    base_url: str,
    body: bytes | dict[str, Any] | list[Any] | str | None = None,
    *,
    target: object = _DEFAULT,
    method: str = "POST",
    path: str = "/",
    content_type: str | None = AMZ_JSON,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> Answer:
    """Send one request with exactly the given body and headers (no SDK in the way)."""
    parts = urlsplit(base_url)
    if isinstance(body, bytes):
        raw = body
    elif body is None:
        raw = b""
    else:
        raw = json.dumps(body).encode()
    sent: dict[str, str] = {}
    if content_type is not None:
        sent["Content-Type"] = content_type
    chosen = TARGET if target is _DEFAULT else target
    if isinstance(chosen, str):
        sent["X-Amz-Target"] = chosen
    sent.update(headers or {})
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        conn.request(method, path, body=raw, headers=sent)
        resp = conn.getresponse()
        data = resp.read()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def get_device(base_url: str, token: str | None, device_key: str | None, **kw: Any) -> Answer:
    body: dict[str, Any] = {}
    if token is not None:
        body["AccessToken"] = token
    if device_key is not None:
        body["DeviceKey"] = device_key
    return call(base_url, body, **kw)


def assert_cognito_error(answer: Answer, type_name: str, message: str, status: int) -> None:
    """The full JSON 1.1 error contract: body, status and headers."""
    assert answer.headers["content-type"] == AMZ_JSON
    assert answer.json() == {"__type": type_name, "message": message}
    assert answer.status == status
    assert answer.headers["x-amzn-errortype"] == f"{type_name}:"
    assert_error_message_header(answer.headers["x-amzn-errormessage"], message)
    assert is_uuid(answer.headers["x-amzn-requestid"])


def assert_error_message_header(header: str, message: str) -> None:
    """x-amzn-ErrorMessage is the message. Only printable ASCII can travel in a header as is, and
    a very long message (one quoting a huge bad value) may be shortened there."""
    if re.fullmatch(r"[\x20-\x7e]{0,1000}", message):
        assert header == message
    else:
        assert re.fullmatch(r"[\x20-\x7e]*", header), repr(header)
        assert len(header) <= max(len(message), 1024)


def assert_boto_error(info: Any, type_name: str, message: str, status: int) -> None:
    """The same contract, as botocore saw it (pytest.raises(ClientError) info)."""
    response = info.value.response
    assert (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    ) == (type_name, message, status)
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-errortype"] == f"{type_name}:"
    assert_error_message_header(headers["x-amzn-errormessage"], message)
    assert is_uuid(headers["x-amzn-requestid"])
    assert response["ResponseMetadata"]["RequestId"] == headers["x-amzn-requestid"]


def is_uuid(value: str) -> bool:
    if not UUID_RE.fullmatch(value):
        return False
    return str(uuid.UUID(value)) == value


# -- tokens ----------------------------------------------------------------------------------
def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def split_token(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a JWS, in their original member order."""
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS with the given parts and an arbitrary signature."""
    return ".".join(
        (
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(payload).encode()),
            b64url(signature),
        )
    )


def sign_rs256(header: dict[str, Any], payload: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), SHA256())
    return f"{signing_input}.{b64url(signature)}"


def with_payload(token: str, **changes: Any) -> str:
    """The token with payload members changed, keeping the original header and signature."""
    header_part, _, signature_part = token.split(".")
    _, payload = split_token(token)
    payload.update(changes)
    return f"{header_part}.{b64url(json.dumps(payload).encode())}.{signature_part}"


def issue(pool: Pool, kid: str, private: Any, username: str, **kw: Any) -> str:
    """An access token of `username` in `pool`, signed in process (no server)."""
    return tokens.issue(
        pool=pool,
        signing_kid=kid,
        signing_key=private,
        sub="sub-1",
        username=username,
        client_id="client-1",
        **kw,
    )


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_jose_keys() -> tuple[Any, Any]:
    """A new RSA key as python-jose keys: (public, private), both for RS256."""
    key = new_rsa_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return jwk.construct(public, "RS256"), jwk.construct(pem, "RS256")


def _raw(value: bytes | str) -> bytes:
    """A reply of redis-py's (bytes; typed bytes | str) as bytes."""
    return value if isinstance(value, bytes) else value.encode()


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    """The public JWK of `key`, as a JWKS lists it."""
    numbers = key.public_key().public_numbers()

    def b64int(value: int) -> str:
        return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {
        "alg": "RS256", "e": b64int(numbers.e), "kid": kid, "kty": "RSA",
        "n": b64int(numbers.n), "use": "sig",
    }  # fmt: skip


def private_key_of_pool(client: redis.Redis, pool_id: str) -> rsa.RSAPrivateKey:
    pem = client.hget(keys.pool(pool_id), "private_pem")
    assert pem is not None, f"pool {pool_id} has no private key"
    loaded = serialization.load_pem_private_key(_raw(pem), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def public_pem_of_pool(client: redis.Redis, pool_id: str) -> bytes:
    return (
        private_key_of_pool(client, pool_id)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


# -- redis inspection --------------------------------------------------------------------------
def user_keys_in_redis(client: redis.Redis, pool_id: str, username: str) -> list[str]:
    """Every key stored under one user's hash tag (SCAN: test code only, never a request path)."""
    gen = client.hget(keys.pool(pool_id), "gen")
    assert gen is not None, f"pool {pool_id} has no generation"
    base = keys.UserKeys(pool_id, _raw(gen).decode(), username).base
    pattern = _glob_escape(base) + "*"
    return sorted(k.decode() for k in client.scan_iter(match=pattern, count=1000))


def _is_claims(key: str, base: str) -> bool:
    return key.startswith(base + ":c:")


def _base(client: redis.Redis, pool_id: str, username: str) -> str:
    gen = client.hget(keys.pool(pool_id), "gen")
    assert gen is not None, f"pool {pool_id} has no generation"
    return keys.UserKeys(pool_id, _raw(gen).decode(), username).base


def claims_keys(client: redis.Redis, pool_id: str, username: str) -> list[str]:
    base = _base(client, pool_id, username)
    return [k for k in user_keys_in_redis(client, pool_id, username) if _is_claims(k, base)]


def lasting_user_keys(client: redis.Redis, pool_id: str, username: str) -> list[str]:
    """Every key of one user but their cached claims. Deleting a user leaves those behind
    (nothing indexes them): this checks that each expires within CLAIMS_CACHE_MAX_TTL_S."""
    base = _base(client, pool_id, username)
    found = user_keys_in_redis(client, pool_id, username)
    for key in found:
        if _is_claims(key, base):
            assert 0 < client.pttl(key) <= 3600 * 1000, key
    return [k for k in found if not _is_claims(k, base)]


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
