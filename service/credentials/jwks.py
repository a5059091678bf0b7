"""JSON Web Key Sets: strict validation of what an operator gives, parsing, public-only output.

A pool trusts the RSA keys of its JWKS. Whatever enters (a file, a URL, a record another system
wrote) is checked whole before it is stored or used, and only public members ever leave.
"""

from __future__ import annotations

import binascii
import ipaddress
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from jose import jwk
from jose.backends.base import Key
from jose.exceptions import JOSEError

from ..model import b64url

# Named as before the move into layers (issue 23): log filters and tests match the name.
log = logging.getLogger("service.jwks")

# The members a public RSA JWK may carry, in the order Cognito publishes them.
PUBLIC_MEMBERS = ("alg", "e", "kid", "kty", "n", "use")
# Members that only a private key (or a symmetric one) has: refused, never published.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MAX_KEYS = 100
FETCH_TIMEOUT_S = 5.0
MAX_FETCH_BYTES = 1 << 20


class JwksError(ValueError):
    """A JWKS document (or URL) that cannot be trusted; the message says why."""


def _b64url_int(value: Any, member: str, kid: str) -> None:
    if not isinstance(value, str) or not value:
        raise JwksError(f"key {kid!r}: {member!r} must be a non-empty base64url string")
    try:
        b64url.decode(value, strict=True)
    except (binascii.Error, ValueError):
        raise JwksError(f"key {kid!r}: {member!r} is not base64url") from None


def validate(doc: Any, min_keys: int = 1) -> dict[str, list[dict[str, str]]]:
    """The document's keys as public RSA JWKs, or JwksError naming what is wrong.

    Accepted: {"keys": [...]} with 1..MAX_KEYS RSA public keys, each with a unique string `kid`,
    `n` and `e`, `alg` RS256 (or absent) and `use` sig (or absent). Private members are refused,
    not dropped: a file holding a private key is a mistake its author must hear about.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise JwksError('expected a JSON object {"keys": [...]}')
    items = doc["keys"]
    if not min_keys <= len(items) <= MAX_KEYS:
        raise JwksError(f"expected {min_keys} to {MAX_KEYS} keys, got {len(items)}")
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise JwksError("every key must be a JSON object")
        kid = item.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise JwksError("every key needs a string 'kid' (1 to 256 characters)")
        private = sorted(PRIVATE_MEMBERS & item.keys())
        if private:
            raise JwksError(f"key {kid!r} holds private key material ({', '.join(private)})")
        if item.get("kty") != "RSA":
            raise JwksError(f"key {kid!r}: only RSA keys are supported (kty {item.get('kty')!r})")
        if item.get("alg", "RS256") != "RS256" or item.get("use", "sig") != "sig":
            raise JwksError(f"key {kid!r}: expected alg RS256 and use sig")
        _b64url_int(item.get("n"), "n", kid)
        _b64url_int(item.get("e"), "e", kid)
        if kid in seen:
            raise JwksError(f"key id {kid!r} appears twice")
        seen.add(kid)
        public = {"alg": "RS256", "e": item["e"], "kid": kid, "kty": "RSA", "n": item["n"]}
        public["use"] = "sig"
        try:
            jwk.construct(public, "RS256")
        except (JOSEError, ValueError, TypeError):
            raise JwksError(f"key {kid!r} is not a valid RSA public key") from None
        out.append(public)
    return {"keys": out}


def parse(doc: Mapping[str, Any]) -> dict[str, Key]:
    """Parse the keys of a validated document, once (parsing costs far more than verifying)."""
    return {item["kid"]: jwk.construct(item, "RS256") for item in doc["keys"]}


def public_json(docs: list[dict[str, list[dict[str, str]]]]) -> bytes:
    """The published JWKS: public members only, whatever the inputs held."""
    merged = [{m: k[m] for m in PUBLIC_MEMBERS if m in k} for d in docs for k in d["keys"]]
    return orjson.dumps({"keys": merged})


def check_url(url: str) -> str:
    """A JWKS URL may be https anywhere, or http to loopback only; never file: or others."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _loopback(host):
        return url
    raise JwksError(f"JWKS URL {url!r} must be https, or http to a loopback address")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def fetch(url: str, timeout_s: float = FETCH_TIMEOUT_S) -> dict[str, list[dict[str, str]]]:
    """Fetch and validate a JWKS document (e.g. a real Cognito pool's); JwksError on failure."""
    check_url(url)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, allow_redirects=False) as resp,
        ):
            if resp.status != 200:
                raise JwksError(f"JWKS URL {url!r} answered HTTP {resp.status}")
            body = await resp.content.read(MAX_FETCH_BYTES + 1)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise JwksError(f"cannot fetch JWKS from {url!r}: {exc!r}") from None
    if len(body) > MAX_FETCH_BYTES:
        raise JwksError(f"JWKS at {url!r} is larger than {MAX_FETCH_BYTES} bytes")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise JwksError(f"JWKS at {url!r} is not JSON") from None
    return validate(doc)
