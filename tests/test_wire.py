"""The AWS JSON 1.1 wire contract, end to end: a real boto3 client (and raw HTTP) against the live
server, with every error of GetDevice provoked by a real condition."""

from __future__ import annotations

import datetime
import gzip
import http.client
import ipaddress
import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jose import jws

from service import store
from tests.conftest import Admin, LiveServer, RedisServer, boto_client, make_settings
from tests.helpers_tokens import (
    AMZ_JSON,
    TARGET,
    TARGET_PREFIX,
    assert_boto_error,
    assert_cognito_error,
    b64url_decode,
    call,
    get_device,
    is_uuid,
    split_token,
    with_payload,
)
from tests.timing import LATE_S

# The whole wire contract runs on a single redis-server and on a Redis Cluster.
BACKENDS = ("single", "cluster")

POOL = "us-east-1_LocalPool"
ACCOUNT = "000000000000"
INVALID = "Invalid Access Token"


def device_hash(admin: Admin, user: store.User, device_key: str) -> dict[str, str]:
    raw = admin.redis.hgetall(user.keys.device(device_key))
    return {k.decode(): v.decode() for k, v in raw.items()}


def expected_attributes(name: str | None, ip: str) -> list[dict[str, str]]:
    """What a user's own calls show of a device (shared/REFERENCE.md, "Device objects"): the
    `dev:*` attributes belong to the admin calls."""
    attrs = [("device_status", "valid")]
    if name is not None:
        attrs.append(("device_name", name))
    attrs.append(("last_ip_used", ip))
    return [{"Name": n, "Value": v} for n, v in attrs]


# -- the happy path --------------------------------------------------------------------------
def test_get_device_through_boto3(cognito: Any, admin: Admin) -> None:
    user = admin.create_user("alice")
    fields = admin.run(lambda r: store.add_device(r, user, name="Alice's phone", ip="192.0.2.1"))
    device = fields["key"]
    token = admin.token("alice")

    answer = cognito.get_device(AccessToken=token, DeviceKey=device)

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = answer["Device"]
    assert got["DeviceKey"] == device
    assert re.fullmatch(
        r"us-east-1_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", device
    )
    assert got["DeviceAttributes"] == expected_attributes("Alice's phone", "192.0.2.1")
    # botocore turned the epoch numbers into datetimes; they are the stored instants.
    for member, field in (
        ("DeviceCreateDate", "create_ms"),
        ("DeviceLastModifiedDate", "modified_ms"),
        ("DeviceLastAuthenticatedDate", "last_auth_ms"),
    ):
        assert isinstance(got[member], datetime.datetime)
        assert got[member].timestamp() == pytest.approx(int(fields[field]) / 1000, abs=1e-6)


def test_success_on_the_wire(live: LiveServer, admin: Admin) -> None:
    user = admin.create_user("alice")
    device = admin.add_device(user, name="phone")
    stored = device_hash(admin, user, device)

    answer = get_device(live.url, admin.token("alice"), device)

    assert answer.status == 200
    assert answer.headers["content-type"] == AMZ_JSON
    assert is_uuid(answer.headers["x-amzn-requestid"])
    assert "x-amzn-errortype" not in answer.headers
    doc = answer.json()
    assert list(doc) == ["Device"]
    assert list(doc["Device"]) == [
        "DeviceKey",
        "DeviceAttributes",
        "DeviceCreateDate",
        "DeviceLastAuthenticatedDate",
        "DeviceLastModifiedDate",
    ]
    # Dates are JSON numbers: epoch seconds with a millisecond fraction, never strings.
    text = answer.body.decode()
    for member, field in (
        ("DeviceCreateDate", "create_ms"),
        ("DeviceLastModifiedDate", "modified_ms"),
        ("DeviceLastAuthenticatedDate", "last_auth_ms"),
    ):
        match = re.search(rf'"{member}":(\d+(?:\.\d+)?)[,}}]', text)
        assert match is not None, text
        number = match.group(1)
        assert re.fullmatch(r"\d{10}(\.\d{1,3})?", number), number
        assert round(float(number) * 1000) == int(stored[field])
    # Cognito reports the last authentication with whole seconds.
    assert doc["Device"]["DeviceLastAuthenticatedDate"] == int(stored["last_auth_ms"]) // 1000
    assert int(stored["last_auth_ms"]) % 1000 == 0
    assert doc["Device"]["DeviceCreateDate"] == doc["Device"]["DeviceLastModifiedDate"]


def test_device_without_a_name_and_not_remembered(cognito: Any, admin: Admin) -> None:
    user = admin.create_user("bob")
    device = admin.run(lambda r: store.add_device(r, user, ip="198.51.100.7"))["key"]
    got = cognito.get_device(AccessToken=admin.token("bob"), DeviceKey=device)["Device"]
    assert got["DeviceAttributes"] == expected_attributes(None, "198.51.100.7")
    # A device the user has not remembered is not theirs to see (GetDevice and ListDevices
    # show remembered devices only; the admin calls show every device).
    hidden = admin.run(lambda r: store.add_device(r, user, remembered=False))["key"]
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=admin.token("bob"), DeviceKey=hidden)
    assert_boto_error(info, "ResourceNotFoundException", "Device does not exist.", 400)


def test_json_1_0_content_type_is_accepted(live: LiveServer, admin: Admin) -> None:
    _, device, token = admin.user_with_device("carol")
    answer = get_device(live.url, token, device, content_type="application/x-amz-json-1.0")
    assert answer.status == 200
    assert answer.json()["Device"]["DeviceKey"] == device


def test_request_ids_are_unique_uuids_on_every_answer(live: LiveServer, admin: Admin) -> None:
    _, device, token = admin.user_with_device("dave")
    answers = [
        get_device(live.url, token, device),  # 200
        get_device(live.url, token, "us-east-1_00"),  # 400 ResourceNotFound
        call(live.url, b"{", target=TARGET),  # 400 Serialization
        call(live.url, {}, target=None),  # 400 UnknownOperation
        call(live.url, method="GET", path="/"),  # 404
        call(live.url, b" " * 70_000),  # 413
    ]
    assert [a.status for a in answers] == [200, 400, 400, 400, 404, 413]
    ids = [a.headers["x-amzn-requestid"] for a in answers]
    assert all(is_uuid(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert all(a.headers["content-type"] == AMZ_JSON for a in answers)


def test_a_callers_x_request_id_comes_back_and_x_amzn_requestid_stays_cognitos(
    live: LiveServer, admin: Admin
) -> None:
    _, device, token = admin.user_with_device("erin")
    # None sent (every SDK): none comes back, as from Cognito.
    assert "x-request-id" not in get_device(live.url, token, device).headers
    for sent in ("edge-4711", "0123456789abcdef0123456789abcdef", "Root=1-67891233-abc/x=y:z@q"):
        for answer in (
            get_device(live.url, token, device, headers={"X-Request-Id": sent}),  # 200
            get_device(live.url, token, "bad", headers={"X-Request-Id": sent}),  # 400
            call(live.url, method="GET", path="/nowhere", headers={"X-Request-Id": sent}),  # 404
        ):
            assert answer.headers["x-request-id"] == sent
            assert is_uuid(answer.headers["x-amzn-requestid"])
    # Not a short token (spaces, quotes, too long, control bytes): ours comes back instead.
    for bad in ("two words", 'q"uote', "x" * 129, "tab\there", "é"):
        answer = get_device(live.url, token, device, headers={"X-Request-Id": bad})
        assert answer.headers["x-request-id"] == answer.headers["x-amzn-requestid"]
        assert is_uuid(answer.headers["x-request-id"])


# -- every error of the seed page, from a real condition --------------------------------------
def test_forbidden_when_the_client_ip_is_denied(
    live_factory: Any,
) -> None:
    server, helper = live_factory(deny_cidrs=(ipaddress.ip_network("127.0.0.0/8"),))
    _, device, token = helper.user_with_device("eve")
    with pytest.raises(ClientError) as info:
        boto_client(server.url).get_device(AccessToken=token, DeviceKey=device)
    # The API page says 400; the service follows real WAF captures, which answer 403.
    assert_boto_error(info, "ForbiddenException", "Request not allowed due to WAF block.", 403)
    # The deny rule comes before anything else: even a malformed request is blocked.
    assert_cognito_error(
        call(server.url, b"not json"),
        "ForbiddenException",
        "Request not allowed due to WAF block.",
        403,
    )


def test_forwarded_for_counts_only_from_a_trusted_proxy(live_factory: Any) -> None:
    deny = (ipaddress.ip_network("203.0.113.0/24"),)
    spoofed = {"X-Forwarded-For": "203.0.113.9"}

    open_server, helper = live_factory(deny_cidrs=deny)
    _, device, token = helper.user_with_device("frank")
    # The peer (127.0.0.1) is not a trusted proxy: its X-Forwarded-For is ignored.
    assert get_device(open_server.url, token, device, headers=spoofed).status == 200

    proxied, _ = live_factory(
        deny_cidrs=deny, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),)
    )
    assert_cognito_error(
        get_device(proxied.url, token, device, headers=spoofed),
        "ForbiddenException",
        "Request not allowed due to WAF block.",
        403,
    )
    assert (
        get_device(proxied.url, token, device, headers={"X-Forwarded-For": "192.0.2.5"}).status
        == 200
    )


def test_internal_error_while_redis_is_down_then_recovery() -> None:
    redis_server = RedisServer()
    redis_server.start()
    server = LiveServer(make_settings(redis_server.url)).start()
    helper = Admin(server.settings, server)
    try:
        helper.wait_pools()
        _, device, token = helper.user_with_device("grace")
        cognito = boto_client(server.url)
        assert (
            cognito.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device
        )
        helper.redis.save()  # the restarted server loads this snapshot
        redis_server.stop()

        started = time.monotonic()
        with pytest.raises(ClientError) as info:
            cognito.get_device(AccessToken=token, DeviceKey=device)
        # At most REDIS_TIMEOUT_S: a Redis that refuses connections is not waited for.
        assert time.monotonic() - started < server.settings.redis_timeout_s + LATE_S
        assert_boto_error(info, "InternalErrorException", "Internal server error.", 500)
        assert_cognito_error(
            get_device(server.url, token, device),
            "InternalErrorException",
            "Internal server error.",
            500,
        )

        redis_server.start()  # same port; the app is not restarted
        deadline = time.monotonic() + 10
        while True:
            answer = get_device(server.url, token, device)
            if answer.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert answer.status == 200, answer.body
        assert answer.json()["Device"]["DeviceKey"] == device
    finally:
        server.stop()
        helper.redis.close()
        redis_server.stop()


def test_invalid_parameter(cognito: Any, admin: Admin) -> None:
    _, _, token = admin.user_with_device("heidi")
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey="no-underscore")
    assert_boto_error(
        info,
        "InvalidParameterException",
        "1 validation error detected: Value 'no-underscore' at 'deviceKey' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: [\w-]+_[0-9a-f-]+",
        400,
    )


def _pool(admin: Admin, pool_id: str, **kw: Any) -> None:
    admin.run(lambda r: store.create_pool(r, admin.settings, pool_id, **kw))
    admin.wait_pools()


def test_invalid_user_pool_configuration(cognito: Any, admin: Admin) -> None:
    pool = "us-east-1_NoTracking"
    _pool(admin, pool, device_tracking=False)
    user = admin.create_user("ivan", pool_id=pool)
    device = admin.add_device(user)
    token = admin.token("ivan", pool_id=pool)
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey=device)
    assert_boto_error(
        info,
        "InvalidUserPoolConfigurationException",
        "Device tracking is not enabled for this user pool.",
        400,
    )
    # The token is verified before anything is said about its pool.
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=with_payload(token, username="mallory"), DeviceKey=device)
    assert_boto_error(info, "NotAuthorizedException", INVALID, 400)


def test_turning_device_tracking_off_reaches_warm_tokens(cognito: Any, admin: Admin) -> None:
    _, device, token = admin.user_with_device("judy")
    assert cognito.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device
    admin.run(lambda r: store.update_pool(r, POOL, device_tracking=False))
    admin.wait_pools()
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey=device)
    assert_boto_error(
        info,
        "InvalidUserPoolConfigurationException",
        "Device tracking is not enabled for this user pool.",
        400,
    )
    admin.run(lambda r: store.update_pool(r, POOL, device_tracking=True))
    admin.wait_pools()
    assert cognito.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("garbage", INVALID),
        ("expired", "Access Token has expired"),
        ("missing_scope", "Access Token does not have required scopes"),
        ("disabled", "User is disabled."),
    ],
)
def test_not_authorized(cognito: Any, admin: Admin, case: str, message: str) -> None:
    user = admin.create_user("ken", enabled=case != "disabled")
    device = admin.add_device(user)
    token = {
        "garbage": "not.a.token",
        "expired": admin.token("ken", ttl_s=-1),
        "missing_scope": admin.token("ken", scopes=["openid", "email"]),
        "disabled": admin.token("ken"),
    }[case]
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey=device)
    assert_boto_error(info, "NotAuthorizedException", message, 400)


def test_not_authorized_without_an_access_token(cognito: Any, admin: Admin) -> None:
    _, device, _ = admin.user_with_device("leo")
    with pytest.raises(ClientError) as info:
        cognito.get_device(DeviceKey=device)
    assert_boto_error(info, "NotAuthorizedException", INVALID, 400)


def test_revoked_by_global_sign_out(cognito: Any, admin: Admin) -> None:
    _, device, before = admin.user_with_device("mia")
    assert cognito.get_device(AccessToken=before, DeviceKey=device)  # warm: claims cached
    cutoff_ms = admin.run(lambda r: store.sign_out_user(r, POOL, "mia"))

    for token in (before, admin.token("mia", now=cutoff_ms // 1000)):
        # The old token, and one issued in the very second of the sign-out, are revoked.
        with pytest.raises(ClientError) as info:
            cognito.get_device(AccessToken=token, DeviceKey=device)
        assert_boto_error(info, "NotAuthorizedException", "Access Token has been revoked", 400)

    while int(time.time()) * 1000 <= cutoff_ms:
        time.sleep(0.05)
    after = admin.token("mia")
    assert cognito.get_device(AccessToken=after, DeviceKey=device)["Device"]["DeviceKey"] == device


def test_revoked_origin_jti(cognito: Any, admin: Admin) -> None:
    user, device, _ = admin.user_with_device("nina")
    first = admin.token("nina", origin_jti="origin-1")
    refreshed = admin.token("nina", origin_jti="origin-1")  # same refresh token, new jti
    other = admin.token("nina", origin_jti="origin-2")
    assert split_token(first)[1]["jti"] != split_token(refreshed)[1]["jti"]
    assert cognito.get_device(AccessToken=first, DeviceKey=device)

    admin.run(lambda r: store.revoke_origin_jti(r, POOL, "nina", user.sub, "origin-1"))

    for token in (first, refreshed):
        with pytest.raises(ClientError) as info:
            cognito.get_device(AccessToken=token, DeviceKey=device)
        assert_boto_error(info, "NotAuthorizedException", "Access Token has been revoked", 400)
    assert cognito.get_device(AccessToken=other, DeviceKey=device)["Device"]["DeviceKey"] == device


@pytest.mark.parametrize(
    ("status", "type_name", "message"),
    [
        (
            "RESET_REQUIRED",
            "PasswordResetRequiredException",
            "Password reset required for the user",
        ),
        ("UNCONFIRMED", "UserNotConfirmedException", "User is not confirmed."),
    ],
)
def test_user_status(cognito: Any, admin: Admin, status: str, type_name: str, message: str) -> None:
    _, device, token = admin.user_with_device("olga", status=status)
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey=device)
    assert_boto_error(info, type_name, message, 400)
    # Confirming the user (an admin change, no new token) lets the same token through.
    admin.run(lambda r: store.update_user(r, POOL, "olga", status="CONFIRMED"))
    assert cognito.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device


def test_resource_not_found_unknown_device(cognito: Any, admin: Admin) -> None:
    _, _, token = admin.user_with_device("pat")
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey="us-east-1_0000")
    assert_boto_error(info, "ResourceNotFoundException", "Device does not exist.", 400)


def test_resource_not_found_another_users_device(cognito: Any, admin: Admin) -> None:
    _, _, token = admin.user_with_device("quinn")
    _, theirs, their_token = admin.user_with_device("rita")
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey=theirs)
    assert_boto_error(info, "ResourceNotFoundException", "Device does not exist.", 400)
    assert cognito.get_device(AccessToken=their_token, DeviceKey=theirs)


def test_resource_not_found_deleted_pool(cognito: Any, admin: Admin) -> None:
    pool = "us-east-1_Doomed"
    _pool(admin, pool)
    user = admin.create_user("sam", pool_id=pool)
    device = admin.add_device(user)
    token = admin.token("sam", pool_id=pool)
    assert cognito.get_device(AccessToken=token, DeviceKey=device)  # warm: cached claims

    admin.run(lambda r: store.delete_pool(r, pool))
    admin.wait_pools()

    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey=device)
    assert_boto_error(info, "ResourceNotFoundException", f"User pool {pool} does not exist.", 400)
    # A forgery naming the deleted pool learns nothing about it.
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=with_payload(token, username="x"), DeviceKey=device)
    assert_boto_error(info, "NotAuthorizedException", INVALID, 400)


def test_too_many_requests(live_factory: Any) -> None:
    server, helper = live_factory(user_rate_per_s=0.001, user_burst=1)
    _, device, token = helper.user_with_device("tom")
    cognito = boto_client(server.url)
    assert cognito.get_device(AccessToken=token, DeviceKey=device)
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey=device)
    assert_boto_error(info, "TooManyRequestsException", "Too many requests", 400)


def test_user_not_found_after_delete(cognito: Any, admin: Admin) -> None:
    _, device, token = admin.user_with_device("uma")
    assert cognito.get_device(AccessToken=token, DeviceKey=device)  # warm
    admin.run(lambda r: store.delete_user(r, POOL, "uma"))
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey=device)
    assert_boto_error(info, "UserNotFoundException", "User does not exist.", 400)

    # A new user with the same name is someone else (a new sub): the old token stays dead.
    admin.create_user("uma")
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey=device)
    assert_boto_error(info, "UserNotFoundException", "User does not exist.", 400)


# -- protocol errors, raw HTTP ------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"DeviceKey": "a_1",}',
        b"{'DeviceKey': 'a_1'}",
        b"\xff\xfe",
        b'{"DeviceKey":"\xff"}',
        b"nul",
        b'{"a":1}{"b":2}',
    ],
)
def test_malformed_json_is_a_serialization_exception(live_session: LiveServer, body: bytes) -> None:
    answer = call(live_session.url, body)
    type_name, message, status = answer.error
    assert (type_name, status) == ("SerializationException", 400)
    assert message
    assert_cognito_error(answer, type_name, message, status)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "Start of list found where not expected"),
        (b'[{"DeviceKey": "us-east-1_00"}]', "Start of list found where not expected"),
    ],
)
def test_a_list_body(live_session: LiveServer, body: bytes, message: str) -> None:
    assert_cognito_error(call(live_session.url, body), "SerializationException", message, 400)


@pytest.mark.parametrize("body", [b'"GetDevice"', b"42", b"true", b"1.5"])
def test_a_scalar_body(live_session: LiveServer, body: bytes) -> None:
    message = "Expected map or null"  # a body is a JSON object, or null for no members
    assert_cognito_error(call(live_session.url, body), "SerializationException", message, 400)


@pytest.mark.parametrize("member", ["DeviceKey", "AccessToken"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "NUMBER_VALUE can not be converted to a String"),
        (1.5, "NUMBER_VALUE can not be converted to a String"),
        (True, "TRUE_VALUE can not be converted to a String"),
        (False, "FALSE_VALUE can not be converted to a String"),
        ({"a": "b"}, "Start of structure or map found where not expected."),
        (["us-east-1_00"], "Start of list found where not expected"),
    ],
)
def test_member_of_the_wrong_json_type(
    live_session: LiveServer, member: str, value: Any, message: str
) -> None:
    body = {"DeviceKey": "us-east-1_00", "AccessToken": "a.b.c", member: value}
    assert_cognito_error(call(live_session.url, body), "SerializationException", message, 400)


def test_empty_body_means_an_empty_object(live_session: LiveServer) -> None:
    missing = (
        "1 validation error detected: Value null at 'deviceKey' failed to satisfy constraint: "
        "Member must not be null"
    )
    for body in (b"", b"  \n", b"{}"):
        assert_cognito_error(
            call(live_session.url, body), "InvalidParameterException", missing, 400
        )


def test_unknown_members_are_ignored(live: LiveServer, admin: Admin) -> None:
    _, device, token = admin.user_with_device("vera")
    answer = call(live.url, {"AccessToken": token, "DeviceKey": device, "Extra": [1, {"x": None}]})
    assert answer.status == 200


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "GetDevice",
        "DynamoDB_20120810.GetItem",
        TARGET_PREFIX,
        TARGET_PREFIX + "NoSuchOperation",
        TARGET_PREFIX.lower() + "GetDevice",
        TARGET + "X",
    ],
)
def test_missing_or_unknown_target(live_session: LiveServer, target: str | None) -> None:
    answer = call(live_session.url, {"DeviceKey": "us-east-1_00"}, target=target)
    type_name, message, status = answer.error
    assert (type_name, status) == ("UnknownOperationException", 400)
    assert "not served yet" not in message
    assert_cognito_error(answer, type_name, message, status)


@pytest.mark.parametrize("operation", ["GetUser", "SignUp", "AdminAddUserToGroup"])
def test_a_cognito_operation_not_served_yet(live_session: LiveServer, operation: str) -> None:
    answer = call(live_session.url, {}, target=TARGET_PREFIX + operation)
    type_name, message, status = answer.error
    assert (type_name, status) == ("UnknownOperationException", 400)
    assert operation in message
    assert "not served yet" in message
    assert_cognito_error(answer, type_name, message, status)


def test_a_cognito_operation_not_served_yet_through_boto3(cognito: Any, live: LiveServer) -> None:
    with pytest.raises(ClientError) as info:
        cognito.get_user(AccessToken="a.b.c")
    assert info.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "not served yet" in info.value.response["Error"]["Message"]


def test_target_that_is_not_utf8_gets_a_json_error(live_session: LiveServer) -> None:
    # http.client sends header text as latin-1: these are raw 0xff / 0xe9 bytes on the wire.
    for target in (TARGET_PREFIX + "Get\xffDevice", TARGET_PREFIX + "caf\xe9", "x\xff"):
        answer = call(live_session.url, {}, target=target)
        assert answer.status == 400, (target, answer.status, answer.body)
        assert answer.headers["content-type"] == AMZ_JSON
        assert answer.json()["__type"] == "UnknownOperationException"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_body_that_does_not_decompress_is_a_client_error(
    live_session: LiveServer, encoding: str
) -> None:
    answer = call(live_session.url, b'{"DeviceKey": "a_0"}', headers={"Content-Encoding": encoding})
    type_name, message, status = answer.error
    assert (type_name, status) == ("SerializationException", 400), answer.body
    assert_cognito_error(answer, type_name, message, status)


def test_compressed_bodies(live_session: LiveServer) -> None:
    gzip_headers = {"Content-Encoding": "gzip"}
    small = call(live_session.url, gzip.compress(b'{"DeviceKey": "abc"}'), headers=gzip_headers)
    assert small.error[0] == "InvalidParameterException"
    assert "Value 'abc' at 'deviceKey'" in small.error[1]
    # The body limit applies to the decompressed body: a 10 KB bomb of 10 MB is refused.
    bomb = gzip.compress(b'{"DeviceKey": "' + b"a" * 10_000_000 + b'"}')
    assert len(bomb) < 65536
    answer = call(live_session.url, bomb, headers=gzip_headers)
    assert_cognito_error(
        answer,
        "RequestEntityTooLargeException",
        "Request body is larger than the limit of 65536 bytes.",
        413,
    )


OVER = 65536 + 1


def test_oversized_body_is_a_json_413(live: LiveServer, admin: Admin) -> None:
    _, device, token = admin.user_with_device("walt")
    pad = "x" * (OVER - len(json.dumps({"AccessToken": token, "DeviceKey": device, "Pad": ""})))
    body = json.dumps({"AccessToken": token, "DeviceKey": device, "Pad": pad}).encode()
    assert len(body) == OVER
    answer = call(live.url, body)
    assert_cognito_error(
        answer,
        "RequestEntityTooLargeException",
        "Request body is larger than the limit of 65536 bytes.",
        413,
    )
    # One byte less is a normal request.
    exact = json.dumps({"AccessToken": token, "DeviceKey": device, "Pad": pad[1:]}).encode()
    assert len(exact) == 65536
    ok = call(live.url, exact)
    assert ok.status == 200, ok.body


async def test_oversized_chunked_body_is_a_json_413(live_session: LiveServer) -> None:
    import aiohttp

    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 8192

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            live_session.url + "/",
            data=chunks(),
            headers={"X-Amz-Target": TARGET, "Content-Type": AMZ_JSON},
        ) as resp,
    ):
        assert resp.status == 413
        assert resp.headers["Content-Type"] == AMZ_JSON
        doc = json.loads(await resp.read())
        assert doc["__type"] == "RequestEntityTooLargeException"
        assert resp.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException:"
        assert is_uuid(resp.headers["x-amzn-RequestId"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("POST", "/nope"),
        ("PUT", "/"),
        ("DELETE", "/"),
        ("GET", "/favicon.ico"),
        ("POST", "/us-east-1_LocalPool/.well-known/jwks.json"),
        ("PATCH", "/a/b/c"),
    ],
)
def test_wrong_method_or_path_is_a_json_404(
    live_session: LiveServer, method: str, path: str
) -> None:
    answer = call(live_session.url, {}, method=method, path=path)
    type_name, message, status = answer.error
    assert (type_name, status) == ("UnknownOperationException", 404)
    assert_cognito_error(answer, type_name, message, status)


def test_control_characters_in_a_validation_message(live_session: LiveServer) -> None:
    # The bad value is echoed in the message; it must not break the x-amzn-ErrorMessage header.
    for value in ("a\rb", "a\nb", "a\x01b", "a\tb", "a\x7fb"):
        try:
            answer = call(live_session.url, {"DeviceKey": value})
        except http.client.RemoteDisconnected:
            pytest.fail(f"the server dropped the connection for DeviceKey {value!r}")
        assert answer.status == 400, repr(value)
        assert answer.headers["content-type"] == AMZ_JSON
        doc = answer.json()
        assert doc["__type"] == "InvalidParameterException"
        assert doc["message"] == (
            f"1 validation error detected: Value '{value}' at 'deviceKey' failed to satisfy "
            r"constraint: Member must satisfy regular expression pattern: [\w-]+_[0-9a-f-]+"
        )
        header = answer.headers["x-amzn-errormessage"]
        assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", header)


# -- JWKS and OpenID configuration ------------------------------------------------------------
def _get_json(url: str) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_jwks_has_cognitos_format_and_verifies_tokens(live: LiveServer, admin: Admin) -> None:
    status, headers, doc = _get_json(f"{live.url}/{POOL}/.well-known/jwks.json")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert list(doc) == ["keys"]
    # Two keys, as real pools have: the first signs access tokens, the second ID tokens.
    assert len(doc["keys"]) == 2
    key = doc["keys"][0]
    assert list(key) == ["alg", "e", "kid", "kty", "n", "use"]
    assert (key["alg"], key["kty"], key["use"], key["e"]) == ("RS256", "RSA", "sig", "AQAB")
    modulus = int.from_bytes(b64url_decode(key["n"]), "big")
    assert modulus.bit_length() == 2048

    admin.create_user("xena")
    token = admin.token("xena")
    assert split_token(token)[0] == {"kid": key["kid"], "alg": "RS256"}
    payload = json.loads(jws.verify(token, key, algorithms=["RS256"]))
    assert payload["username"] == "xena"
    assert payload["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
    with pytest.raises(jws.JWSError):
        jws.verify(with_payload(token, username="yann"), key, algorithms=["RS256"])


def test_each_pool_has_its_own_keys(live: LiveServer, admin: Admin) -> None:
    other = "eu-west-1_Second"
    _pool(admin, other)
    _, _, mine = _get_json(f"{live.url}/{POOL}/.well-known/jwks.json")
    _, _, theirs = _get_json(f"{live.url}/{other}/.well-known/jwks.json")
    assert mine["keys"][0]["kid"] != theirs["keys"][0]["kid"]
    assert mine["keys"][0]["n"] != theirs["keys"][0]["n"]


def _openid(port: int, host: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"/{POOL}/.well-known/openid-configuration", headers={"Host": host})
        resp = conn.getresponse()
        assert resp.status == 200
        return json.loads(resp.read())  # type: ignore[no-any-return]
    finally:
        conn.close()


def test_openid_configuration(live: LiveServer) -> None:
    doc = _openid(live.port, "attacker.example")
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
    assert doc["issuer"] == issuer
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    # Where Cognito publishes it, beside the issuer; never built from the client's Host.
    assert doc["jwks_uri"] == f"{issuer}/.well-known/jwks.json"


def test_openid_configuration_names_the_public_base_url(live_factory: Any) -> None:
    # PUBLIC_BASE_URL: where clients reach this service (behind a proxy, say); it serves the
    # keys itself there.
    server, _ = live_factory(public_base_url="https://edge.example/cognito/")
    doc = _openid(server.port, "attacker.example")
    path = f"/{POOL}/.well-known/jwks.json"
    assert doc["jwks_uri"] == f"https://edge.example/cognito{path}"
    status, _, jwks = _get_json(server.url + path)
    assert status == 200
    assert jwks["keys"][0]["alg"] == "RS256"


@pytest.mark.parametrize("doc", ["jwks.json", "openid-configuration"])
def test_well_known_of_an_unknown_or_deleted_pool(live: LiveServer, admin: Admin, doc: str) -> None:
    _pool(admin, "us-east-1_Gone")
    admin.run(lambda r: store.delete_pool(r, "us-east-1_Gone"))
    admin.wait_pools()
    for pool in ("us-east-1_Nobody", "us-east-1_Gone"):
        status, _, body = _get_json(f"{live.url}/{pool}/.well-known/{doc}")
        assert status == 404
        assert body == {
            "__type": "ResourceNotFoundException",
            "message": f"User pool {pool} does not exist.",
        }


def test_issuer_base_url_is_configurable(live_factory: Any) -> None:
    # The issuer is part of a pool's record: pools created under this setting get it.
    server, helper = live_factory(issuer_base_url="http://localhost:9229/")
    pool = "us-east-1_Issued"
    _pool(helper, pool)
    user = helper.create_user("zoe", pool_id=pool)
    device = helper.add_device(user)
    token = helper.token("zoe", pool_id=pool)
    assert split_token(token)[1]["iss"] == f"http://localhost:9229/{pool}"
    _, _, doc = _get_json(f"{server.url}/{pool}/.well-known/openid-configuration")
    assert doc["issuer"] == f"http://localhost:9229/{pool}"
    assert get_device(server.url, token, device).status == 200
