"""SigV4 on the admin plane: requests signed by botocore (the reference), the AWS CLI and the JS
SDK v3 pass; unsigned, unknown-key, wrongly signed, stale and wrongly scoped ones are refused
with AWS's own errors, on every signed operation."""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import os
import shutil
import subprocess
from typing import Any

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from service.credentials import sigv4_sign
from service.credentials.sigv4 import MISMATCH, canonical_query
from service.model.catalog import SIGNED_OPERATIONS, UNSIGNED_OPERATIONS
from tests.conftest import PROJECT, LiveServer, boto_client
from tests.noskip import unavailable

TARGET = "AWSCognitoIdentityProviderService."


def _signed(
    live: LiveServer,
    operation: str,
    body: dict[str, Any],
    *,
    key: str = "test",
    secret: str = "test",  # noqa: S107
    region: str = "us-east-1",
    service: str = "cognito-idp",
    when: datetime.datetime | None = None,
    query: str = "",
    extra: dict[str, str] | None = None,
) -> tuple[str, dict[str, str], bytes]:
    data = orjson.dumps(body)
    url = f"{live.url}/" + (f"?{query}" if query else "")
    request = AWSRequest(
        method="POST",
        url=url,
        data=data,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": TARGET + operation,
            **(extra or {}),
        },
    )
    signer = SigV4Auth(Credentials(key, secret), service, region)
    if when is None:
        signer.add_auth(request)
    else:
        request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        sts = signer.string_to_sign(request, canonical)
        signature = signer.signature(sts, request)
        signer._inject_signature_to_request(request, signature)
    path = "/" + (f"?{query}" if query else "")
    return path, dict(request.headers.items()), data


def _send(
    live: LiveServer, path: str, headers: dict[str, str], data: bytes, chunked: bool = False
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    if chunked:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value.encode("latin-1"))
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for i in range(0, len(data), 7):
            piece = data[i : i + 7]
            conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        conn.send(b"0\r\n\r\n")
    else:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value.encode("latin-1"))
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
    resp = conn.getresponse()
    body = orjson.loads(resp.read() or b"{}")
    conn.close()
    return resp.status, body


def _error(status_body: tuple[int, dict[str, Any]]) -> tuple[int, str, str]:
    status, body = status_body
    return status, body.get("__type", ""), body.get("message", "")


LIST = ("ListUserPools", {"MaxResults": 5})


def test_botocore_signed_requests_pass_with_unusual_query_headers_and_chunks(
    live: LiveServer,
) -> None:
    for query in ("", "a=b", "z=1&a=2&a=1", "k=%20v%2Fw&empty=&flag", "x=%E2%9C%93"):
        status, body = _send(live, *_signed(live, *LIST, query=query))
        assert status == 200, (query, body)
    # A Latin-1 header value, signed (botocore sends it as Latin-1, as http.client does).
    status, body = _send(live, *_signed(live, *LIST, extra={"X-Amz-Meta": "café  au   lait"}))
    assert status == 200, body
    # The same body in HTTP chunks: the payload hash is of the body, whatever its framing.
    status, body = _send(live, *_signed(live, *LIST), chunked=True)
    assert status == 200, body


def test_unsigned_unknown_key_wrong_signature(live: LiveServer) -> None:
    path, headers, data = _signed(live, *LIST)
    unsigned = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    assert _error(_send(live, path, unsigned, data)) == (
        400,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )
    assert _error(_send(live, *_signed(live, *LIST, key="AKIANOBODY"))) == (
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
    assert _error(_send(live, *_signed(live, *LIST, secret="wrong"))) == (
        400,
        "InvalidSignatureException",
        MISMATCH,
    )
    # A body changed after signing.
    assert _error(_send(live, path, headers, orjson.dumps({"MaxResults": 6})))[1] == (
        "InvalidSignatureException"
    )
    # UNSIGNED-PAYLOAD would leave the body unsigned: refused.
    path, headers, data = _signed(live, *LIST, extra={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert _error(_send(live, path, headers, data))[1] == "InvalidSignatureException"


def test_every_hex_digit_of_the_signature_counts(live: LiveServer) -> None:
    path, headers, data = _signed(live, *LIST)
    authorization = headers["Authorization"]
    signature = authorization.rpartition("Signature=")[2]
    assert len(signature) == 64
    for at in (0, 31, 32, 63):  # each end of each half: a prefix compare misses the last two
        digit = "0" if signature[at] != "0" else "1"
        flipped = signature[:at] + digit + signature[at + 1 :]
        forged = {**headers, "Authorization": authorization.replace(signature, flipped)}
        assert _error(_send(live, path, forged, data)) == (
            400,
            "InvalidSignatureException",
            MISMATCH,
        ), at
    assert _send(live, path, headers, data)[0] == 200


def test_the_target_must_be_among_the_signed_headers(live: LiveServer) -> None:
    # Signed without X-Amz-Target, which is then added: a valid signature over everything else.
    # Accepted, it would let a captured request be replayed as any other operation.
    _, headers, data = _signed(live, *LIST)
    assert "x-amz-target" in headers["Authorization"]
    untargeted = AWSRequest(
        method="POST",
        url=f"{live.url}/",
        data=data,
        headers={"Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(Credentials("test", "test"), "cognito-idp", "us-east-1").add_auth(untargeted)
    sent = {**dict(untargeted.headers.items()), "X-Amz-Target": TARGET + LIST[0]}
    assert "x-amz-target" not in sent["Authorization"]
    assert _error(_send(live, "/", sent, data)) == (400, "InvalidSignatureException", MISMATCH)


def test_dates_and_scopes(live: LiveServer) -> None:
    now = datetime.datetime.now(datetime.UTC)
    for offset in (-290, 290):
        ok = now + datetime.timedelta(seconds=offset)
        assert _send(live, *_signed(live, *LIST, when=ok))[0] == 200
    old = now - datetime.timedelta(minutes=6)
    status, kind, message = _error(_send(live, *_signed(live, *LIST, when=old)))
    assert (status, kind) == (400, "InvalidSignatureException")
    assert message.startswith(f"Signature expired: {old:%Y%m%dT%H%M%SZ} is now earlier than ")
    assert message.endswith(" - 5 min.)")
    future = now + datetime.timedelta(minutes=6)
    _, kind, message = _error(_send(live, *_signed(live, *LIST, when=future)))
    assert kind == "InvalidSignatureException" and message.startswith("Signature not yet current")
    assert _error(_send(live, *_signed(live, *LIST, region="eu-west-1"))) == (
        400,
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'eu-west-1'. ",
    )
    assert _error(_send(live, *_signed(live, *LIST, service="cognito-identity"))) == (
        400,
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'cognito-idp'. ",
    )


def test_every_served_signed_operation_refuses_an_unsigned_call(live: LiveServer) -> None:
    from service.credentials.pools import PoolRegistry
    from service.ops import operations
    from tests.conftest import make_settings

    names = set(operations(make_settings(live.settings.redis_url), PoolRegistry(), None))  # type: ignore[arg-type]
    signed = names & SIGNED_OPERATIONS
    # With AdminInitiateAuth, AdminRespondToAuthChallenge and UpdateUserPoolClient.
    assert len(signed) == 22
    for name in sorted(signed):
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + name}
        assert _error(_send(live, "/", headers, b"{}"))[1] == "MissingAuthenticationTokenException"
    # The user's own calls stay unsigned: GetDevice is answered on its merits.
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + "GetDevice"}
    assert _error(_send(live, "/", headers, b"{}"))[1] == "InvalidParameterException"
    assert "GetDevice" in UNSIGNED_OPERATIONS


def test_canonical_query_matches_botocore_params() -> None:
    signer = SigV4Auth(Credentials("a", "b"), "cognito-idp", "us-east-1")
    params = [("b", "x y"), ("a", "é/~"), ("a", "1")]
    raw = "b=x%20y&a=%C3%A9%2F~&a=1"
    assert canonical_query(raw) == signer._canonical_query_string_params(params)


def test_aws_cli_signed_calls(live: LiveServer) -> None:
    aws = shutil.which("aws") or str(PROJECT / ".venv" / "bin" / "aws")
    if not os.path.exists(aws):
        unavailable("the AWS CLI (a locked dev dependency) is not in this environment")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null")
    base = [aws, "cognito-idp", "--endpoint-url", live.url, "--output", "json"]
    made = subprocess.run(
        [*base, "create-user-pool", "--pool-name", "cli pool"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    pool_id = json.loads(made.stdout)["UserPool"]["Id"]
    got = subprocess.run(
        [*base, "describe-user-pool", "--user-pool-id", pool_id],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(got.stdout)["UserPool"]["Name"] == "cli pool"
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    bad = subprocess.run(
        [*base, "describe-user-pool", "--user-pool-id", pool_id],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0 and "InvalidSignatureException" in bad.stderr


def test_boto3_with_wrong_credentials(live: LiveServer) -> None:
    import boto3
    import botocore.config
    from botocore.exceptions import ClientError

    good = boto_client(live.url)
    assert good.list_user_pools(MaxResults=1)["UserPools"]
    bad = boto3.client(
        "cognito-idp",
        endpoint_url=live.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="nope",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as info:
        bad.list_user_pools(MaxResults=1)
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_js_sdk_v3_signed_calls(live: LiveServer) -> None:
    """The JS SDK v3's own signer (Node), with the SDK tests/test_browser.py installs."""
    from tests.test_browser import _install

    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        unavailable("node or npm is not installed (run scripts/install-browser-deps as root)")
    installed = _install(node, npm)
    script = PROJECT / "tests" / "browser" / "admin_sigv4.mjs"
    env = {**os.environ, "CGD_NODE_MODULES": str(installed / "node_modules")}
    done = subprocess.run(
        [node, str(script), live.url, "test"],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["created"].startswith("us-east-1_")
    assert out["signed"] == "OK"
    assert out["wrongSecret"] == f"InvalidSignatureException: {MISMATCH}"
    assert out["wrongRegion"] == (
        "InvalidSignatureException: Credential should be scoped to a valid region, "
        "not 'eu-west-1'. "
    )


class _Exact(SigV4Auth):  # type: ignore[misc]
    """botocore's signer, signing exactly the headers given (as the service once ran it)."""

    def headers_to_sign(self, request: Any) -> Any:
        return request.headers


_TEXT = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=12)
_PATH = st.lists(
    st.sampled_from(["", ".", "..", "a b", "x~y", "%2F", "é", "ü/", "?q", "#f", "//"]), max_size=5
).map(lambda parts: "/" + "/".join(parts))


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["POST", "GET", "post"]),
    path=_PATH,
    query=st.sampled_from(["", "a=1&b=%20", "z&a=%7E"]),
    headers=st.lists(
        st.tuples(st.sampled_from(["host", "x-amz-target", "x-amz-date", "x-b"]), _TEXT),
        min_size=1,
        max_size=6,
    ),
    body=st.binary(max_size=40),
    secret=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8),
)
def test_the_vendored_signer_is_botocores(
    method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes, secret: str
) -> None:
    """service/credentials/sigv4_sign.py against botocore's SigV4Auth, which it was copied from:
    whatever the path (dot segments, double slashes, escapes), header values (runs of whitespace,
    Latin-1, repeats) and body, the same signature."""
    amz_date = "20261208T010203Z"
    request = AWSRequest(method=method, url="http://signed" + path, data=body)
    for name, value in headers:
        request.headers[name] = value
    request.context["timestamp"] = amz_date
    signer = _Exact(Credentials("AKID", secret), "cognito-idp", "us-east-1")
    signer.canonical_query_string = lambda _request: canonical_query(query)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    got = sigv4_sign.signature(
        method=method,
        path=path,
        canonical_query=canonical_query(query),
        signed=headers,
        payload_sha256=hashlib.sha256(body).hexdigest(),
        amz_date=amz_date,
        region="us-east-1",
        service="cognito-idp",
        secret=secret,
    )
    assert got == expected
