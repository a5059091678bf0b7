"""AWS Signature Version 4, verified: what lets an admin call through.

The canonicalisation is botocore's own (`botocore.auth.SigV4Auth`, the signer boto3 and the
AWS CLI use), copied into service/credentials/sigv4_sign.py so that the image needs no botocore (31
MiB); tests/test_sigv4.py holds the copy equal to botocore's signer. This module hands it exactly
the client's `SignedHeaders` and the raw query, and makes the checks a signer does not (credential
scope, clock, payload hash).

Payload: the body's SHA-256 is always computed from the body as the handler reads it (aiohttp has
already removed any HTTP chunked framing and any Content-Encoding: a client that signed compressed
bytes is refused; the AWS SDKs do not compress JSON 1.1 requests). `X-Amz-Content-SHA256`,
when sent, must equal it: `UNSIGNED-PAYLOAD` and the `STREAMING-*` (aws-chunked) forms are
refused, because they would leave the JSON body of an admin call unsigned; no AWS SDK sends them
to a JSON 1.1 service.

Errors and their sources (AWS's JSON services answer them this way; 400 unless noted):
- no `Authorization` header: MissingAuthenticationTokenException, `Missing Authentication
  Token` (the message API Gateway and JSON endpoints send; common-voice #1599, and
  aws-samples/amazon-comprehend-medical-fhir-integration #9).
- an access key no credential has: UnrecognizedClientException, `The security token included
  in the request is invalid.` (captured from cognito-idp itself in aws/aws-sdk-php #2444).
- a signature that does not match: InvalidSignatureException, `The request signature we
  calculated does not match the signature you provided. Check your AWS Secret Access Key and
  signing method. Consult the service documentation for details.` (AWS's documented text).
- X-Amz-Date more than 5 minutes old: InvalidSignatureException, `Signature expired: <date> is
  now earlier than <now - 5 min> (<now> - 5 min.)`; in the future: `Signature not yet current:
  <date> is still later than <now + 5 min> (<now> + 5 min.)` (remind101/logspout-kinesis #21,
  aws/aws-sdk-php #1780).
- another region in the scope: InvalidSignatureException, `Credential should be scoped to a
  valid region, not '<region>'. ` (fsouza/s3-upload-proxy #241; trailing space as captured);
  another service: `Credential should be scoped to correct service: 'cognito-idp'. `
  (cllunsford/aws-signing-proxy #25).
- a malformed `Authorization` header or no X-Amz-Date: IncompleteSignatureException (the text
  lists what is missing; AWS's wording for a header that is not `AWS4-HMAC-SHA256
  Credential=..., SignedHeaders=..., Signature=...`).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from ..model import errors as e
from . import sigv4_sign

SERVICE = "cognito-idp"
ALGORITHM = sigv4_sign.ALGORITHM
# AWS accepts a request signed at most this far from its own clock, either way.
MAX_SKEW_S = 300
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_DATE_RE = re.compile(r"\d{8}T\d{6}Z")
_FIELD_RE = re.compile(r"\s*(Credential|SignedHeaders|Signature)\s*=\s*([^,\s]*)\s*")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _stamp(epoch_s: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_s))


def _parse_stamp(value: str) -> int | None:
    if not _DATE_RE.fullmatch(value):
        return None
    try:
        return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return None


def canonical_query(raw_query: str) -> str:
    """The query string as SigV4 canonicalises it: every name and value decoded, then encoded
    with RFC 3986's unreserved set, the pairs sorted (what botocore does to `params`)."""
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


class Verifier:
    """Checks SigV4 signatures against the operator's credentials, for one region."""

    def __init__(self, credentials: Mapping[str, str], region: str) -> None:
        self.credentials = dict(credentials)
        self.region = region

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: Any,
        body: bytes,
        now_s: float | None = None,
    ) -> str:
        """Raise the AWS error for a request that is not signed by a known credential;
        return its access key id. `headers` is the request's (multi-valued, case-insensitive)
        header mapping; `path` the raw request path, `query` its raw query string."""
        authorization = headers.get("Authorization")
        if not authorization:
            raise e.MissingAuthenticationTokenException("Missing Authentication Token")
        fields = _authorization_fields(authorization)
        credential = fields["Credential"].split("/")
        if len(credential) != 5:
            raise e.IncompleteSignatureException(
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                "keyid/date/region/service/term, got '" + fields["Credential"] + "'"
            )
        if credential[4] != "aws4_request":
            raise e.InvalidSignatureException(
                "Credential should be scoped with a valid terminator: 'aws4_request', not "
                f"'{credential[4]}'. "
            )
        access_key, scope_date, region, service, _ = credential
        secret = self.credentials.get(access_key)
        if secret is None:
            raise e.UnrecognizedClientException(
                "The security token included in the request is invalid."
            )
        amz_date = headers.get("X-Amz-Date")
        if not amz_date:
            raise e.IncompleteSignatureException(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                "header."
            )
        signed_at = _parse_stamp(amz_date)
        if signed_at is None:
            raise e.IncompleteSignatureException(
                f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See "
                "http://en.wikipedia.org/wiki/ISO_8601"
            )
        now = time.time() if now_s is None else now_s
        if signed_at < now - MAX_SKEW_S:
            raise e.InvalidSignatureException(
                f"Signature expired: {amz_date} is now earlier than "
                f"{_stamp(now - MAX_SKEW_S)} ({_stamp(now)} - 5 min.)"
            )
        if signed_at > now + MAX_SKEW_S:
            raise e.InvalidSignatureException(
                f"Signature not yet current: {amz_date} is still later than "
                f"{_stamp(now + MAX_SKEW_S)} ({_stamp(now)} + 5 min.)"
            )
        if region != self.region:
            raise e.InvalidSignatureException(
                f"Credential should be scoped to a valid region, not '{region}'. "
            )
        if service != SERVICE:
            raise e.InvalidSignatureException(
                f"Credential should be scoped to correct service: '{SERVICE}'. "
            )
        if scope_date != amz_date[:8]:
            raise e.InvalidSignatureException(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                f"from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        body_sha = hashlib.sha256(body).hexdigest()
        declared = headers.get("X-Amz-Content-SHA256")
        if declared is not None and declared != body_sha:
            raise e.InvalidSignatureException(MISMATCH)
        names = [n for n in fields["SignedHeaders"].split(";") if n]
        # The operation is chosen by X-Amz-Target: it must be signed, or a captured request could
        # be replayed as another operation within the clock window.
        if "host" not in names or "x-amz-target" not in names or names != sorted(names):
            raise e.InvalidSignatureException(MISMATCH)
        given = fields["Signature"]
        if not _HEX64.fullmatch(given):
            raise e.InvalidSignatureException(MISMATCH)
        for values in _header_readings(headers, names):
            try:
                expected = sigv4_sign.signature(
                    method=method,
                    path=path,
                    # The query as the client canonicalised it, not a raw-URL reading of it.
                    canonical_query=canonical_query(query),
                    signed=values,
                    payload_sha256=body_sha,  # what X-Amz-Content-SHA256 says too, if sent
                    amz_date=amz_date,
                    region=region,
                    service=SERVICE,
                    secret=secret,
                )
            except UnicodeEncodeError:  # header bytes that are no text in this reading
                continue
            if hmac.compare_digest(expected.encode(), given.encode()):
                return access_key
        raise e.InvalidSignatureException(MISMATCH)


def _header_readings(headers: Any, names: list[str]) -> list[list[tuple[str, str]]]:
    """The signed headers' (name, value) pairs, as the client may have meant them.

    aiohttp decodes header bytes as UTF-8 (surrogateescape). Clients that send a non-ASCII value
    (botocore through http.client, Node) write it as Latin-1 and sign the text: read the bytes
    as Latin-1 first. A client that sent UTF-8 bytes signed their UTF-8 reading: tried second,
    only when some value is not ASCII."""
    pairs: list[tuple[str, str]] = []
    for name in names:
        values = headers.getall(name, ())
        if not values:
            raise e.InvalidSignatureException(MISMATCH)
        pairs.extend((name, v) for v in values)
    if all(v.isascii() for _, v in pairs):
        return [pairs]
    latin = [(n, v.encode("utf-8", "surrogateescape").decode("latin-1")) for n, v in pairs]
    return [latin, pairs]


def _authorization_fields(value: str) -> dict[str, str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise e.IncompleteSignatureException(
            f"Authorization header requires '{ALGORITHM}' as its algorithm "
            f"(got '{algorithm[:40]}')."
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        match = _FIELD_RE.fullmatch(part)
        if match:
            fields[match.group(1)] = match.group(2)
    missing = [f for f in ("Credential", "SignedHeaders", "Signature") if not fields.get(f)]
    if missing:
        raise e.IncompleteSignatureException(
            " ".join(f"Authorization header requires '{m}' parameter." for m in missing)
            + f" Authorization={ALGORITHM}"
        )
    return fields
