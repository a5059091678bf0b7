"""The device and sign-out operations (ListDevices, UpdateDeviceStatus, ForgetDevice,
ConfirmDevice, GlobalSignOut, RevokeToken) through real clients against a live server: boto3
for the answers' shapes and every error on each operation's model list that a real condition
can cause here, pagination under concurrent changes, revocation, what ConfirmDevice stores, an
end-to-end story, the AWS CLI, and one Redis command per warm call (counted with MONITOR).

The JavaScript SDK's turn is tests/test_device_ops_js.py.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from botocore.exceptions import ClientError

from service import cli, store
from service.model import clients
from service.ops import devices as device_ops
from service.ops import sign_out
from tests.conftest import (
    Admin,
    LiveServer,
    RedisServer,
    boto_client,
    flush,
    make_settings,
)
from tests.helpers_tokens import (
    TARGET_PREFIX,
    assert_boto_error,
    assert_cognito_error,
    b64url,
    b64url_decode,
    call,
    lasting_user_keys,
)
from tests.noskip import unavailable

POOL = "us-east-1_LocalPool"
INVALID = "Invalid Access Token"
REVOKED = "Access Token has been revoked"
NO_DEVICE = "Device does not exist."
BAD_PAGE = "Invalid pagination token."
DEVICE_OPS = ("ListDevices", "UpdateDeviceStatus", "ForgetDevice", "ConfirmDevice")
TOKEN_OPS = (*DEVICE_OPS, "GlobalSignOut")
VERIFIER = {"PasswordVerifier": "dmVyaWZpZXI=", "Salt": "c2FsdA=="}
# Plenty of room in both of a user's buckets, for tests that make many calls as one user.
ROOMY = {"user_rate_per_s": 100_000.0, "user_burst": 100_000}


# -- helpers ---------------------------------------------------------------------------------
def body_of(answer: dict[str, Any]) -> dict[str, Any]:
    """A boto3 answer without its ResponseMetadata: what the operation returned."""
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def op(url: str, name: str, body: dict[str, Any] | bytes) -> Any:
    """One raw AWS JSON 1.1 call of `name` (no SDK in the way)."""
    return call(url, body, target=TARGET_PREFIX + name)


def add_devices(admin: Admin, user: store.User, n: int, **kw: Any) -> list[dict[str, str]]:
    """`n` devices for `user` over one Redis connection; their hash fields."""

    async def add(r: Any) -> list[dict[str, str]]:
        return [await store.add_device(r, user, **kw) for _ in range(n)]

    added: list[dict[str, str]] = admin.run(add)
    return added


def listing_order(devices: list[dict[str, str]]) -> list[str]:
    """ListDevices' order: newest created first, then by device key."""
    ordered = sorted(devices, key=lambda d: (-int(d["create_ms"]), d["key"]))
    return [d["key"] for d in ordered]


def device_hash(admin: Admin, user: store.User, device_key: str) -> dict[str, str]:
    raw = admin.redis.hgetall(user.keys.device(device_key))
    return {k.decode(): v.decode() for k, v in raw.items()}


def user_hash(admin: Admin, user: store.User) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in admin.redis.hgetall(user.keys.user).items()}


def listed_keys(cognito: Any, token: str, **kw: Any) -> list[str]:
    return [d["DeviceKey"] for d in cognito.list_devices(AccessToken=token, **kw)["Devices"]]


def calls(cognito: Any, token: str, device: str) -> dict[str, Callable[[], Any]]:
    """Each access-token operation, with otherwise valid arguments."""
    return {
        "GetDevice": lambda: cognito.get_device(AccessToken=token, DeviceKey=device),
        "ListDevices": lambda: cognito.list_devices(AccessToken=token),
        "UpdateDeviceStatus": lambda: cognito.update_device_status(
            AccessToken=token, DeviceKey=device, DeviceRememberedStatus="remembered"
        ),
        "ForgetDevice": lambda: cognito.forget_device(AccessToken=token, DeviceKey=device),
        "ConfirmDevice": lambda: cognito.confirm_device(
            AccessToken=token, DeviceKey=device, DeviceSecretVerifierConfig=VERIFIER
        ),
        "GlobalSignOut": lambda: cognito.global_sign_out(AccessToken=token),
    }


def refused(fn: Callable[[], Any], type_name: str, message: str, what: str = "") -> None:
    with pytest.raises(ClientError) as info:
        fn()
    try:
        assert_boto_error(info, type_name, message, 400)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {info.value.response['Error']}") from exc


def flip_first(token: str, part: int) -> str:
    """`token` with the first character of its dot-separated `part` changed (the first: the
    last character of base64 may carry only unused bits)."""
    parts = token.split(".")
    parts[part] = ("A" if parts[part][0] != "A" else "B") + parts[part][1:]
    return ".".join(parts)


def make_pool(admin: Admin, pool_id: str, **kw: Any) -> dict[str, str]:
    record: dict[str, str] = admin.run(
        lambda r: store.create_pool(r, admin.settings, pool_id, **kw)
    )
    admin.wait_pools()
    return record


@pytest.fixture
def cognito(live: LiveServer) -> Iterator[Any]:
    client = boto_client(live.url)
    yield client
    client.close()  # no kept-alive connection outlives the test


@pytest.fixture(scope="module")
def roomy_server(redis_url: str) -> Iterator[LiveServer]:
    """One live server for the module whose per-user buckets never run dry (started once:
    each start and stop of a server costs time)."""
    server = LiveServer(make_settings(redis_url, **ROOMY)).start()
    yield server
    server.stop()


@pytest.fixture
def roomy(roomy_server: LiveServer, clean_redis: None) -> Iterator[tuple[LiveServer, Admin, Any]]:
    """(roomy server, admin for it, boto3 client), on a flushed database."""
    helper = Admin(roomy_server.settings, roomy_server)
    helper.wait_pools()
    client = boto_client(roomy_server.url)
    yield roomy_server, helper, client
    client.close()
    helper.redis.close()


# -- ListDevices -------------------------------------------------------------------------------
def test_list_devices_answer_shape(roomy: tuple[LiveServer, Admin, Any]) -> None:
    server, admin, cognito = roomy
    user = admin.create_user("alice")
    named = admin.run(lambda r: store.add_device(r, user, name="Alice's phone", ip="192.0.2.1"))
    plain = admin.run(lambda r: store.add_device(r, user, ip="198.51.100.7"))
    admin.add_device(user, remembered=False)  # never listed
    admin.add_device(user, confirmed=False)  # never listed
    token = admin.token("alice")

    raw = op(server.url, "ListDevices", {"AccessToken": token})
    assert raw.status == 200
    doc = raw.json()
    assert list(doc) == ["Devices"]  # one page: no PaginationToken member at all
    want = []
    for fields in sorted((named, plain), key=lambda d: (-int(d["create_ms"]), d["key"])):
        attrs = [{"Name": "device_status", "Value": "valid"}]
        if "name" in fields:
            attrs.append({"Name": "device_name", "Value": fields["name"]})
        attrs.append({"Name": "last_ip_used", "Value": fields["last_ip"]})
        want.append(
            {
                "DeviceKey": fields["key"],
                "DeviceAttributes": attrs,
                "DeviceCreateDate": int(fields["create_ms"]) / 1000,
                "DeviceLastAuthenticatedDate": int(fields["last_auth_ms"]) // 1000,
                "DeviceLastModifiedDate": int(fields["modified_ms"]) / 1000,
            }
        )
    assert doc["Devices"] == want
    # Each listed device is exactly what GetDevice says of it.
    for device in doc["Devices"]:
        got = op(server.url, "GetDevice", {"AccessToken": token, "DeviceKey": device["DeviceKey"]})
        assert got.json() == {"Device": device}

    answer = body_of(cognito.list_devices(AccessToken=token))
    assert list(answer) == ["Devices"]
    assert [d["DeviceKey"] for d in answer["Devices"]] == [d["DeviceKey"] for d in want]
    for device in answer["Devices"]:
        names = [a["Name"] for a in device["DeviceAttributes"]]
        assert set(names) <= {"device_status", "device_name", "last_ip_used"}


def test_list_devices_of_a_user_without_devices(cognito: Any, admin: Admin) -> None:
    admin.create_user("bob")
    assert body_of(cognito.list_devices(AccessToken=admin.token("bob"))) == {"Devices": []}


# -- UpdateDeviceStatus ------------------------------------------------------------------------
def test_update_device_status(live: LiveServer, cognito: Any, admin: Admin) -> None:
    user, device, token = admin.user_with_device("carol")
    before = device_hash(admin, user, device)

    answer = cognito.update_device_status(
        AccessToken=token, DeviceKey=device, DeviceRememberedStatus="not_remembered"
    )
    assert body_of(answer) == {}
    after = device_hash(admin, user, device)
    assert after["remembered"] == "not_remembered"
    assert int(after["modified_ms"]) >= int(before["modified_ms"])
    assert after["create_ms"] == before["create_ms"]
    # A device the user no longer remembers is not theirs to see.
    refused(lambda: cognito.get_device(AccessToken=token, DeviceKey=device), *_rnf())
    assert listed_keys(cognito, token) == []

    raw = op(
        live.url,
        "UpdateDeviceStatus",
        {"AccessToken": token, "DeviceKey": device, "DeviceRememberedStatus": "remembered"},
    )
    assert (raw.status, raw.body) == (200, b"{}")
    assert device_hash(admin, user, device)["remembered"] == "remembered"
    assert listed_keys(cognito, token) == [device]
    assert cognito.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device


def _rnf() -> tuple[str, str]:
    return ("ResourceNotFoundException", NO_DEVICE)


def test_update_device_status_devices_not_there(cognito: Any, admin: Admin) -> None:
    user, _, token = admin.user_with_device("dave")
    _, theirs, _ = admin.user_with_device("erin")
    unconfirmed = admin.add_device(user, confirmed=False)
    for key in ("us-east-1_0000", theirs, unconfirmed):
        refused(
            lambda key=key: cognito.update_device_status(
                AccessToken=token, DeviceKey=key, DeviceRememberedStatus="remembered"
            ),
            *_rnf(),
            what=key,
        )
    # Nothing of the other user's device changed.
    assert admin.redis.hget(user.keys.device(theirs), "remembered") is None


# -- ForgetDevice ------------------------------------------------------------------------------
def test_forget_device(live: LiveServer, cognito: Any, admin: Admin) -> None:
    user, device, token = admin.user_with_device("frank")
    kept = admin.add_device(user)
    hidden = admin.add_device(user, remembered=False)

    assert body_of(cognito.forget_device(AccessToken=token, DeviceKey=device)) == {}
    assert not admin.redis.exists(user.keys.device(device))
    assert not admin.redis.hexists(user.keys.devices, device)
    refused(lambda: cognito.get_device(AccessToken=token, DeviceKey=device), *_rnf())
    assert listed_keys(cognito, token) == [kept]
    # Forgetting it again: it does not exist any more.
    refused(lambda: cognito.forget_device(AccessToken=token, DeviceKey=device), *_rnf())

    # A device the user does not remember can still be forgotten (raw: the answer is `{}`).
    raw = op(live.url, "ForgetDevice", {"AccessToken": token, "DeviceKey": hidden})
    assert (raw.status, raw.body) == (200, b"{}")
    assert not admin.redis.exists(user.keys.device(hidden))


def test_forget_device_not_there(cognito: Any, admin: Admin) -> None:
    _, _, token = admin.user_with_device("gina")
    other, theirs, their_token = admin.user_with_device("hank")
    for key in ("us-east-1_0000", theirs):
        refused(lambda key=key: cognito.forget_device(AccessToken=token, DeviceKey=key), *_rnf())
    assert admin.redis.exists(other.keys.device(theirs))
    assert listed_keys(cognito, their_token) == [theirs]


# -- ConfirmDevice -----------------------------------------------------------------------------
def test_confirm_device_stores_verifier_salt_and_name(
    live: LiveServer, cognito: Any, admin: Admin
) -> None:
    user = admin.create_user("ivy")
    device = admin.add_device(user, confirmed=False, ip="203.0.113.4")
    token = admin.token("ivy")
    assert listed_keys(cognito, token) == []

    answer = cognito.confirm_device(
        AccessToken=token,
        DeviceKey=device,
        DeviceSecretVerifierConfig=VERIFIER,
        DeviceName="Ivy's laptop",
    )
    assert body_of(answer) == {"UserConfirmationNecessary": False}
    stored = device_hash(admin, user, device)
    assert stored["verifier"] == VERIFIER["PasswordVerifier"]
    assert stored["salt"] == VERIFIER["Salt"]
    assert stored["name"] == "Ivy's laptop"
    assert stored["confirmed"] == "1"
    assert stored["remembered"] == "remembered"
    assert admin.redis.hexists(user.keys.devices, device)

    got = cognito.get_device(AccessToken=token, DeviceKey=device)["Device"]
    assert got["DeviceAttributes"] == [
        {"Name": "device_status", "Value": "valid"},
        {"Name": "device_name", "Value": "Ivy's laptop"},
        {"Name": "last_ip_used", "Value": "203.0.113.4"},
    ]
    assert listed_keys(cognito, token) == [device]

    # Confirming it again: the key exists already.
    refused(
        lambda: cognito.confirm_device(
            AccessToken=token, DeviceKey=device, DeviceSecretVerifierConfig=VERIFIER
        ),
        "DeviceKeyExistsException",
        "Device key already exists.",
    )
    assert device_hash(admin, user, device) == stored
    # A remembered device confirmed long ago (no `confirmed` field, as store.add_device leaves
    # it) is an existing key too.
    old = admin.add_device(user)
    refused(
        lambda: cognito.confirm_device(AccessToken=token, DeviceKey=old),
        "DeviceKeyExistsException",
        "Device key already exists.",
    )

    # Without a name or a verifier (both optional in the model), raw: the exact body.
    bare = admin.add_device(user, confirmed=False)
    raw = op(live.url, "ConfirmDevice", {"AccessToken": token, "DeviceKey": bare})
    assert (raw.status, raw.body) == (200, b'{"UserConfirmationNecessary":false}')
    assert "name" not in device_hash(admin, user, bare)


def test_confirm_device_of_an_unknown_key(cognito: Any, admin: Admin) -> None:
    user, _, token = admin.user_with_device("jack")
    other = admin.create_user("kate")
    theirs = admin.add_device(other, confirmed=False)
    for key in ("us-east-1_0000", theirs):
        refused(
            lambda key=key: cognito.confirm_device(
                AccessToken=token, DeviceKey=key, DeviceSecretVerifierConfig=VERIFIER
            ),
            "InvalidParameterException",
            "Invalid device key given.",
            what=key,
        )
    # Nothing was written for either user.
    assert not admin.redis.exists(user.keys.device("us-east-1_0000"))
    assert device_hash(admin, other, theirs)["confirmed"] == "0"


def test_unconfirmed_device_is_invisible_to_get_device(cognito: Any, admin: Admin) -> None:
    admin.create_user("lena")
    user = admin.run(lambda r: store.get_user(r, POOL, "lena"))
    device = admin.add_device(user, confirmed=False)
    token = admin.token("lena")
    refused(lambda: cognito.get_device(AccessToken=token, DeviceKey=device), *_rnf())


def test_confirm_device_in_a_pool_that_remembers_on_prompt(
    cognito: Any, live: LiveServer, admin: Admin
) -> None:
    pool = "us-east-1_OnPrompt"
    make_pool(admin, pool, remember_on_prompt=True)
    user = admin.create_user("mona", pool_id=pool)
    device = admin.add_device(user, confirmed=False)
    token = admin.token("mona", pool_id=pool)

    answer = cognito.confirm_device(
        AccessToken=token, DeviceKey=device, DeviceSecretVerifierConfig=VERIFIER, DeviceName="m"
    )
    assert body_of(answer) == {"UserConfirmationNecessary": True}
    assert device_hash(admin, user, device)["remembered"] == "not_remembered"
    # Confirmed but not remembered: invisible until the user opts in.
    refused(lambda: cognito.get_device(AccessToken=token, DeviceKey=device), *_rnf())
    assert listed_keys(cognito, token) == []

    cognito.update_device_status(
        AccessToken=token, DeviceKey=device, DeviceRememberedStatus="remembered"
    )
    assert listed_keys(cognito, token) == [device]
    assert cognito.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device

    # Turning the setting on for a live pool reaches tokens already in use.
    admin.run(lambda r: store.update_pool(r, pool, remember_on_prompt=False))
    admin.wait_pools()
    second = admin.add_device(user, confirmed=False)
    raw = op(live.url, "ConfirmDevice", {"AccessToken": token, "DeviceKey": second})
    assert raw.json() == {"UserConfirmationNecessary": False}


# -- GlobalSignOut and RevokeToken: the happy paths --------------------------------------------
def test_global_sign_out_revokes_every_token_of_the_user(
    roomy: tuple[LiveServer, Admin, Any],
) -> None:
    server, admin, cognito = roomy
    user, device, caller = admin.user_with_device("nora")
    warm = admin.token("nora", origin_jti="session-2")
    cold = admin.token("nora", origin_jti="session-3")  # never used before the sign-out
    assert listed_keys(cognito, caller) == [device]
    assert listed_keys(cognito, warm) == [device]
    _, their_device, bystander = admin.user_with_device("otto")

    raw = op(server.url, "GlobalSignOut", {"AccessToken": caller})
    assert (raw.status, raw.body) == (200, b"{}")
    assert int(user_hash(admin, user)["signed_out_ms"]) > 0

    for token in (caller, warm, cold):
        for name, fn in calls(cognito, token, device).items():
            refused(fn, "NotAuthorizedException", REVOKED, what=name)
    # Nothing was done for the refused calls, and the other user is untouched.
    assert device_hash(admin, user, device)["remembered"] == "remembered"
    assert listed_keys(cognito, bystander) == [their_device]
    assert body_of(cognito.global_sign_out(AccessToken=bystander)) == {}
    refused(lambda: cognito.list_devices(AccessToken=bystander), "NotAuthorizedException", REVOKED)


def test_revoke_token_revokes_its_origin_jti_only(
    roomy: tuple[LiveServer, Admin, Any], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    server, admin, cognito = roomy
    user, device, _ = admin.user_with_device("paul")
    # `token --with-refresh` prints an access token and a refresh token sharing an origin_jti.
    monkeypatch.setenv("REDIS_URL", admin.settings.redis_url)
    monkeypatch.setenv("DATA_DIR", admin.settings.data_dir)
    capsys.readouterr()
    assert cli.main(["token", "paul", "--with-refresh"]) == 0
    pair = json.loads(capsys.readouterr().out)
    access, refresh_token = pair["AccessToken"], pair["RefreshToken"]
    assert refresh_token.count(".") == 4  # opaque, JWE-shaped, as Cognito's are
    other = admin.token("paul", origin_jti="another-session")
    assert listed_keys(cognito, access) == [device]  # warm

    client_id = admin.run(lambda r: store.pool_record(r, POOL))["clients"]
    client_id = next(iter(clients.parse(json.loads(client_id))))
    answer = cognito.revoke_token(Token=refresh_token, ClientId=client_id)
    assert body_of(answer) == {}
    for name, fn in calls(cognito, access, device).items():
        refused(fn, "NotAuthorizedException", REVOKED, what=name)
    assert listed_keys(cognito, other) == [device]
    assert user_hash(admin, user)["revoked"] == "1"

    # Revoking it again (already revoked): 200, nothing more.
    raw = op(server.url, "RevokeToken", {"Token": refresh_token, "ClientId": client_id})
    assert (raw.status, raw.body) == (200, b"{}")
    assert listed_keys(cognito, other) == [device]


def test_revoke_token_minted_by_the_store(roomy: tuple[LiveServer, Admin, Any]) -> None:
    _, admin, cognito = roomy
    user, device, _ = admin.user_with_device("quin")
    first = admin.token("quin", origin_jti="o-1")
    refreshed = admin.token("quin", origin_jti="o-1")  # the same refresh token's next access
    other = admin.token("quin", origin_jti="o-2")
    client_id = pool_clients(admin)[0]
    refresh_token = admin.run(
        lambda r: store.mint_refresh(r, POOL, user, client_id=client_id, origin_jti="o-1")
    )
    assert cognito.revoke_token(Token=refresh_token, ClientId=client_id)
    for token in (first, refreshed):
        refused(
            lambda t=token: cognito.list_devices(AccessToken=t), "NotAuthorizedException", REVOKED
        )
    assert listed_keys(cognito, other) == [device]


# -- every error of each operation's model list, from a real condition --------------------------
SESSION_REFUSALS = [
    ("garbage", "NotAuthorizedException", INVALID),
    ("forged", "NotAuthorizedException", INVALID),
    ("expired", "NotAuthorizedException", "Access Token has expired"),
    ("missing_scope", "NotAuthorizedException", "Access Token does not have required scopes"),
    ("signed_out", "NotAuthorizedException", REVOKED),
    ("disabled", "NotAuthorizedException", "User is disabled."),
    ("unconfirmed", "UserNotConfirmedException", "User is not confirmed."),
    ("reset_required", "PasswordResetRequiredException", "Password reset required for the user"),
    ("force_change", "PasswordResetRequiredException", "Password reset required for the user"),
]
STATUS_OF = {
    "unconfirmed": "UNCONFIRMED",
    "reset_required": "RESET_REQUIRED",
    "force_change": "FORCE_CHANGE_PASSWORD",
}


@pytest.mark.parametrize(("case", "type_name", "message"), SESSION_REFUSALS)
def test_session_refusals_on_every_operation(
    cognito: Any, admin: Admin, case: str, type_name: str, message: str
) -> None:
    user = admin.create_user(
        "rosa", enabled=case != "disabled", status=STATUS_OF.get(case, "CONFIRMED")
    )
    device = admin.add_device(user)
    good = admin.token("rosa")
    token = {
        "garbage": "not.a.token",
        "forged": flip_first(good, 2),
        "expired": admin.token("rosa", ttl_s=-1),
        "missing_scope": admin.token("rosa", scopes=["openid", "email"]),
    }.get(case, good)
    if case == "signed_out":
        admin.run(lambda r: store.sign_out_user(r, POOL, "rosa"))
    before = device_hash(admin, user, device)
    for name in TOKEN_OPS:
        fn = calls(cognito, token, device)[name]
        for attempt in ("cold", "warm"):
            refused(fn, type_name, message, what=f"{name} ({attempt})")
    # A refused call changes nothing: the device is as it was, and no sign-out happened.
    assert device_hash(admin, user, device) == before
    if case != "signed_out":
        assert "signed_out_ms" not in user_hash(admin, user)


def test_deleted_user(cognito: Any, admin: Admin) -> None:
    _, device, token = admin.user_with_device("sara")
    cold = admin.token("sara", origin_jti="never-used")
    assert listed_keys(cognito, token) == [device]  # warm
    admin.run(lambda r: store.delete_user(r, POOL, "sara"))
    for t in (token, cold):
        for name in DEVICE_OPS:
            refused(
                calls(cognito, t, device)[name],
                "UserNotFoundException",
                "User does not exist.",
                what=name,
            )
        # GlobalSignOut's model has no UserNotFoundException: not authorized, same text.
        refused(
            lambda t=t: cognito.global_sign_out(AccessToken=t),
            "NotAuthorizedException",
            "User does not exist.",
        )
    # No refused call made keys for the deleted user again.
    assert lasting_user_keys(admin.redis, POOL, "sara") == []  # cached claims expire
    # A new user of the same name is someone else: the old tokens stay refused.
    admin.create_user("sara")
    refused(
        lambda: cognito.global_sign_out(AccessToken=token),
        "NotAuthorizedException",
        "User does not exist.",
    )
    refused(
        lambda: cognito.list_devices(AccessToken=token),
        "UserNotFoundException",
        "User does not exist.",
    )


def test_deleted_pool(cognito: Any, admin: Admin) -> None:
    pool = "us-east-1_Doomed"
    make_pool(admin, pool)
    user = admin.create_user("tess", pool_id=pool)
    device = admin.add_device(user)
    warm = admin.token("tess", pool_id=pool)
    cold = admin.token("tess", pool_id=pool, origin_jti="cold")
    assert listed_keys(cognito, warm) == [device]

    admin.run(lambda r: store.delete_pool(r, pool))
    admin.wait_pools()
    for token in (warm, cold):
        for name in TOKEN_OPS:
            refused(
                calls(cognito, token, device)[name],
                "ResourceNotFoundException",
                f"User pool {pool} does not exist.",
                what=name,
            )


def test_device_tracking_off(cognito: Any, admin: Admin) -> None:
    pool = "us-east-1_NoTracking"
    make_pool(admin, pool, device_tracking=False)
    user = admin.create_user("uma", pool_id=pool)
    device = admin.add_device(user)
    token = admin.token("uma", pool_id=pool)
    for name in DEVICE_OPS:
        refused(
            calls(cognito, token, device)[name],
            "InvalidUserPoolConfigurationException",
            "Device tracking is not enabled for this user pool.",
            what=name,
        )
    # GlobalSignOut needs no device tracking.
    assert body_of(cognito.global_sign_out(AccessToken=token)) == {}
    refused(lambda: cognito.global_sign_out(AccessToken=token), "NotAuthorizedException", REVOKED)


def test_device_tracking_turned_off_reaches_warm_tokens(cognito: Any, admin: Admin) -> None:
    _, device, token = admin.user_with_device("vic")
    assert listed_keys(cognito, token) == [device]
    admin.run(lambda r: store.update_pool(r, POOL, device_tracking=False))
    admin.wait_pools()
    for name in DEVICE_OPS:
        refused(
            calls(cognito, token, device)[name],
            "InvalidUserPoolConfigurationException",
            "Device tracking is not enabled for this user pool.",
            what=name,
        )
    admin.run(lambda r: store.update_pool(r, POOL, device_tracking=True))
    admin.wait_pools()
    assert listed_keys(cognito, token) == [device]


def test_reads_and_writes_are_separate_buckets(live_factory: Any) -> None:
    server, admin = live_factory(user_rate_per_s=0.001, user_burst=2)
    cognito = boto_client(server.url)
    user, device, token = admin.user_with_device("wade")
    spare = admin.add_device(user, confirmed=False)
    throttled = ("TooManyRequestsException", "Too many requests")

    assert cognito.list_devices(AccessToken=token)
    assert cognito.get_device(AccessToken=token, DeviceKey=device)
    refused(lambda: cognito.list_devices(AccessToken=token), *throttled)
    refused(lambda: cognito.get_device(AccessToken=token, DeviceKey=device), *throttled)

    # The read bucket is empty; the write bucket is whole.
    assert cognito.update_device_status(
        AccessToken=token, DeviceKey=device, DeviceRememberedStatus="remembered"
    )
    assert cognito.confirm_device(AccessToken=token, DeviceKey=spare)
    for name in ("UpdateDeviceStatus", "ForgetDevice", "ConfirmDevice", "GlobalSignOut"):
        refused(calls(cognito, token, device)[name], *throttled, what=name)
    # A throttled call did nothing: the device is still there, and no sign-out happened.
    assert admin.redis.exists(user.keys.device(device))
    stored = user_hash(admin, user)
    assert "signed_out_ms" not in stored
    assert float(stored["bucket_tokens"]) < 1 and float(stored["wbucket_tokens"]) < 1
    # Another user has buckets of their own.
    _, theirs, their_token = admin.user_with_device("xena")
    assert cognito.list_devices(AccessToken=their_token)
    assert cognito.forget_device(AccessToken=their_token, DeviceKey=theirs)


def _starved_pool(live_factory: Any) -> tuple[Any, Admin, store.User, str, str, str]:
    """A server whose pool-wide write quotas are empty from the start (POOL_RATE_LIMIT, with
    UserResourceUpdate and UserUpdate at 0.001 requests/s: a bucket smaller than one call)."""
    server, admin = live_factory(
        pool_rate_limit=True,
        category_rates={"UserResourceUpdate": 0.001, "UserUpdate": 0.001},
    )
    user, device, token = admin.user_with_device("yara")
    spare = admin.add_device(user, confirmed=False)
    return boto_client(server.url), admin, user, device, spare, token


def _pool_throttled_writes(cognito: Any, device: str, spare: str, token: str) -> None:
    # In an order where no call depends on an earlier one having done nothing.
    throttled = ("TooManyRequestsException", "Too many requests")
    refused(
        lambda: cognito.update_device_status(
            AccessToken=token, DeviceKey=device, DeviceRememberedStatus="not_remembered"
        ),
        *throttled,
    )
    refused(lambda: cognito.confirm_device(AccessToken=token, DeviceKey=spare), *throttled)
    refused(lambda: cognito.forget_device(AccessToken=token, DeviceKey=device), *throttled)


def _pool_throttled_sign_out(cognito: Any, token: str) -> None:
    refused(
        lambda: cognito.global_sign_out(AccessToken=token),
        "TooManyRequestsException",
        "Too many requests",
    )


def test_pool_quota_throttles_writes_not_reads(live_factory: Any) -> None:
    cognito, _, _, device, spare, token = _starved_pool(live_factory)
    _pool_throttled_writes(cognito, device, spare, token)
    # Reads are another category (UserResourceRead, 50/s by default).
    assert "Devices" in cognito.list_devices(AccessToken=token)
    _pool_throttled_sign_out(cognito, token)


def test_a_write_refused_by_the_pool_quota_changes_nothing(live_factory: Any) -> None:
    cognito, admin, user, device, spare, token = _starved_pool(live_factory)
    before = (device_hash(admin, user, device), device_hash(admin, user, spare))
    _pool_throttled_writes(cognito, device, spare, token)
    _pool_throttled_sign_out(cognito, token)
    after = (device_hash(admin, user, device), device_hash(admin, user, spare))
    assert after == before
    assert "signed_out_ms" not in user_hash(admin, user)


# -- validation and serialization ----------------------------------------------------------------
def _one(value: str, member: str, constraint: str) -> str:
    return (
        f"1 validation error detected: {value} at '{member}' failed to satisfy constraint: "
        f"{constraint}"
    )


def test_validation_through_boto3(cognito: Any, admin: Admin) -> None:
    _, device, token = admin.user_with_device("yuri")
    cases: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: cognito.list_devices(AccessToken=token, Limit=61),
            _one("Value '61'", "limit", "Member must have value less than or equal to 60"),
        ),
        (
            lambda: cognito.update_device_status(
                AccessToken=token, DeviceKey=device, DeviceRememberedStatus="forgotten"
            ),
            _one(
                "Value 'forgotten'",
                "deviceRememberedStatus",
                "Member must satisfy enum value set: [remembered, not_remembered]",
            ),
        ),
        (
            lambda: cognito.update_device_status(AccessToken=token, DeviceKey=device),
            _one("Value null", "deviceRememberedStatus", "Member must not be null"),
        ),
        (
            lambda: cognito.forget_device(AccessToken=token, DeviceKey="nokey"),
            _one(
                "Value 'nokey'",
                "deviceKey",
                r"Member must satisfy regular expression pattern: [\w-]+_[0-9a-f-]+",
            ),
        ),
        (
            lambda: cognito.confirm_device(
                AccessToken=token, DeviceKey=device, DeviceName="n" * 1025
            ),
            _one(
                f"Value '{'n' * 1025}'",
                "deviceName",
                "Member must have length less than or equal to 1024",
            ),
        ),
        (
            lambda: cognito.global_sign_out(AccessToken="not a token!"),
            _one(
                "Value",
                "accessToken",
                "Member must satisfy regular expression pattern: [A-Za-z0-9-_=.]+",
            ),
        ),
        (
            lambda: cognito.revoke_token(Token="x", ClientId="abc", ClientSecret="s" * 23 + "!"),
            _one(
                "Value", "clientSecret", r"Member must satisfy regular expression pattern: [\w+]+"
            ),
        ),
        (
            lambda: cognito.revoke_token(Token="x", ClientId="abc", RevokeAssociatedSessions="ALL"),
            _one(
                "Value 'ALL'",
                "revokeAssociatedSessions",
                "Member must satisfy enum value set: [NONE, LINKED]",
            ),
        ),
    ]
    for fn, message in cases:
        refused(fn, "InvalidParameterException", message, what=message[:80])
    # Nothing was changed by any of them.
    assert listed_keys(cognito, token) == [device]


def test_validation_boto3_refuses_to_send(live: LiveServer, admin: Admin) -> None:
    # What boto3 checks itself, sent raw: Limit below 0, an empty PaginationToken, no Token.
    _, device, token = admin.user_with_device("zack")
    cases: list[tuple[str, dict[str, Any] | bytes, str]] = [
        (
            "ListDevices",
            {"AccessToken": token, "Limit": -1},
            _one("Value '-1'", "limit", "Member must have value greater than or equal to 0"),
        ),
        (
            "RevokeToken",
            {"ClientId": "abc"},
            _one("Value null", "token", "Member must not be null"),
        ),
        (
            "ConfirmDevice",
            {"AccessToken": token},
            _one("Value null", "deviceKey", "Member must not be null"),
        ),
        (
            "RevokeToken",
            {"Token": "x", "ClientId": "abc", "ClientSecret": "short"},
            _one("Value", "clientSecret", "Member must have length greater than or equal to 24"),
        ),
        (
            "ListDevices",
            {},
            _one("Value null", "accessToken", "Member must not be null"),
        ),
    ]
    for name, body, message in cases:
        assert_cognito_error(op(live.url, name, body), "InvalidParameterException", message, 400)
    # ForgetDevice's model makes AccessToken optional: without one it is not authorized.
    assert_cognito_error(
        op(live.url, "ForgetDevice", {"DeviceKey": device}), "NotAuthorizedException", INVALID, 400
    )


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("ListDevices", {"Limit": "5"}, "STRING_VALUE can not be converted to an Integer"),
        ("ListDevices", {"Limit": True}, "TRUE_VALUE can not be converted to an Integer"),
        ("ListDevices", {"Limit": [5]}, "Start of list found where not expected"),
        ("ListDevices", {"PaginationToken": 5}, "NUMBER_VALUE can not be converted to a String"),
        (
            "UpdateDeviceStatus",
            {"DeviceRememberedStatus": {"a": 1}},
            "Start of structure or map found where not expected.",
        ),
        ("ForgetDevice", {"DeviceKey": False}, "FALSE_VALUE can not be converted to a String"),
        ("ConfirmDevice", {"DeviceName": 7}, "NUMBER_VALUE can not be converted to a String"),
        (
            "ConfirmDevice",
            {"DeviceSecretVerifierConfig": ["v"]},
            "Start of list found where not expected",
        ),
        (
            "ConfirmDevice",
            {"DeviceSecretVerifierConfig": {"Salt": 1}},
            "NUMBER_VALUE can not be converted to a String",
        ),
        ("GlobalSignOut", {"AccessToken": 1.5}, "NUMBER_VALUE can not be converted to a String"),
        ("RevokeToken", {"ClientId": ["a"]}, "Start of list found where not expected"),
    ],
)
def test_wrong_json_types(
    live: LiveServer, admin: Admin, name: str, body: dict[str, Any], message: str
) -> None:
    _, device, token = admin.user_with_device("abby")
    full = {"AccessToken": token, "DeviceKey": device, "Token": "x", "ClientId": "abc", **body}
    assert_cognito_error(op(live.url, name, full), "SerializationException", message, 400)
    assert listed_keys(boto_client(live.url), token) == [device]


# -- RevokeToken's own errors and 200s ---------------------------------------------------------
def test_revoke_token_errors_and_silent_successes(
    roomy: tuple[LiveServer, Admin, Any],
) -> None:
    _, admin, cognito = roomy
    pool = "us-east-1_TwoClients"
    make_pool(admin, pool, client_ids=["webclient", "mobileclient"])
    user = admin.create_user("bea", pool_id=pool)
    device = admin.add_device(user)
    access = admin.token("bea", pool_id=pool, client_id="webclient", origin_jti="web-1")

    def refresh(client_id: str, origin_jti: str, **kw: Any) -> str:
        minted: str = admin.run(
            lambda r: store.mint_refresh(
                r, pool, user, client_id=client_id, origin_jti=origin_jti, **kw
            )
        )
        return minted

    web = refresh("webclient", "web-1")
    # An access token is not a refresh token.
    refused(
        lambda: cognito.revoke_token(Token=access, ClientId="webclient"),
        "UnsupportedTokenTypeException",
        "Unsupported token type.",
    )
    # A client id no pool has.
    refused(
        lambda: cognito.revoke_token(Token=web, ClientId="nosuchclient"),
        "UnauthorizedException",
        "Invalid client id.",
    )
    # Another client of the same pool.
    refused(
        lambda: cognito.revoke_token(Token=web, ClientId="mobileclient"),
        "UnauthorizedException",
        "The refresh token was issued to another client.",
    )
    assert listed_keys(cognito, access) == [device]  # none of that revoked anything

    # Tokens that are not (or no longer) valid: 200, and nothing is revoked.
    expired = refresh("webclient", "web-1", ttl_s=-10)
    tampered = flip_first(web, 3)  # the sealed claims
    for token in ("garbage", "a.b.c.d.e", tampered, expired):
        assert body_of(cognito.revoke_token(Token=token, ClientId="webclient")) == {}, token
    assert listed_keys(cognito, access) == [device]
    # A refresh token of another pool, presented with this pool's client: 200, nothing.
    default_user = admin.create_user("bea")
    default_client = pool_clients(admin)
    other_pool = admin.run(
        lambda r: store.mint_refresh(
            r,
            POOL,
            default_user,
            client_id=default_client[0],
            origin_jti="web-1",
        )
    )
    assert body_of(cognito.revoke_token(Token=other_pool, ClientId="webclient")) == {}
    assert listed_keys(cognito, access) == [device]

    # The real one revokes; then, already revoked, it is a 200 again.
    assert body_of(cognito.revoke_token(Token=web, ClientId="webclient")) == {}
    refused(lambda: cognito.list_devices(AccessToken=access), "NotAuthorizedException", REVOKED)
    assert body_of(cognito.revoke_token(Token=web, ClientId="webclient")) == {}
    # Of a deleted user: 200.
    mobile = refresh("mobileclient", "mob-1")
    admin.run(lambda r: store.delete_user(r, pool, "bea"))
    assert body_of(cognito.revoke_token(Token=mobile, ClientId="mobileclient")) == {}
    assert lasting_user_keys(admin.redis, pool, "bea") == []  # cached claims expire


# -- pagination ----------------------------------------------------------------------------------
def walk(cognito: Any, token: str, **kw: Any) -> list[dict[str, Any]]:
    """Every page of the user's devices, following PaginationToken."""
    pages = [body_of(cognito.list_devices(AccessToken=token, **kw))]
    while "PaginationToken" in pages[-1]:
        follow = pages[-1]["PaginationToken"]
        pages.append(body_of(cognito.list_devices(AccessToken=token, PaginationToken=follow, **kw)))
        assert len(pages) < 200, "pagination does not end"
    return pages


def page_keys(page: dict[str, Any]) -> list[str]:
    return [d["DeviceKey"] for d in page["Devices"]]


def test_default_page_holds_sixty(roomy: tuple[LiveServer, Admin, Any]) -> None:
    _, admin, cognito = roomy
    user = admin.create_user("pia")
    want = listing_order(add_devices(admin, user, 61))
    token = admin.token("pia")
    for limit in ({}, {"Limit": 0}):
        pages = walk(cognito, token, **limit)
        assert [len(p["Devices"]) for p in pages] == [60, 1], limit
        assert [k for p in pages for k in page_keys(p)] == want
        assert isinstance(pages[0]["PaginationToken"], str)
        assert list(pages[1]) == ["Devices"]


def test_every_limit_pages_through_everything_once(roomy: tuple[LiveServer, Admin, Any]) -> None:
    _, admin, cognito = roomy
    user = admin.create_user("quentin")
    added = add_devices(admin, user, 61)
    # Several devices created in the same millisecond: the key breaks the tie.
    for fields in added[:20]:
        admin.redis.hset(user.keys.device(fields["key"]), "create_ms", added[0]["create_ms"])
        fields["create_ms"] = added[0]["create_ms"]
    want = listing_order(added)
    token = admin.token("quentin")
    for limit in (1, 2, 7, 19, 20, 59, 60):
        pages = walk(cognito, token, Limit=limit)
        sizes = [len(p["Devices"]) for p in pages]
        assert sizes == [limit] * (61 // limit) + ([61 % limit] if 61 % limit else []), limit
        assert [k for p in pages for k in page_keys(p)] == want, limit
        # A PaginationToken exactly when another page follows.
        assert ["PaginationToken" in p for p in pages] == [True] * (len(pages) - 1) + [False]

    # A page that ends exactly at the last device says no more follow.
    few = admin.create_user("rory")
    add_devices(admin, few, 4)
    few_token = admin.token("rory")
    assert [len(p["Devices"]) for p in walk(cognito, few_token, Limit=2)] == [2, 2]
    assert [len(p["Devices"]) for p in walk(cognito, few_token, Limit=4)] == [4]


@pytest.mark.parametrize("seed", range(6))
def test_pages_stay_stable_while_devices_come_and_go(
    roomy: tuple[LiveServer, Admin, Any], seed: int
) -> None:
    """Between pages, devices are added, forgotten, hidden (not_remembered) and remembered
    again: no device is listed twice, none listed is gone or hidden at that moment, and none
    that was listable all along is skipped."""
    _, admin, cognito = roomy
    rng = random.Random(seed)
    user = admin.create_user("sybil")
    initial = add_devices(admin, user, rng.randint(10, 40))
    # Some share a creation millisecond, as a burst of sign-ins would.
    for fields in rng.sample(initial, len(initial) // 3):
        admin.redis.hset(user.keys.device(fields["key"]), "create_ms", initial[0]["create_ms"])
    token = admin.token("sybil")
    listable = {d["key"] for d in initial}
    hidden: set[str] = set()
    touched: set[str] = set()  # forgotten or hidden at some point
    seen: list[str] = []

    kw: dict[str, Any] = {"Limit": rng.randint(1, 8)}
    while True:
        page = body_of(cognito.list_devices(AccessToken=token, **kw))
        got = page_keys(page)
        assert set(got) <= listable, set(got) - listable
        seen.extend(got)
        if "PaginationToken" not in page:
            break
        kw = {"Limit": rng.randint(1, 8), "PaginationToken": page["PaginationToken"]}
        for _ in range(rng.randint(0, 4)):
            action = rng.choice(("add", "forget", "hide", "unhide"))
            if action == "add":
                listable.add(admin.add_device(user))
            elif action == "forget" and listable | hidden:
                key = rng.choice(sorted(listable | hidden))
                cognito.forget_device(AccessToken=token, DeviceKey=key)
                listable.discard(key)
                hidden.discard(key)
                touched.add(key)
            elif action == "hide" and listable:
                key = rng.choice(sorted(listable))
                cognito.update_device_status(
                    AccessToken=token, DeviceKey=key, DeviceRememberedStatus="not_remembered"
                )
                listable.discard(key)
                hidden.add(key)
                touched.add(key)
            elif action == "unhide" and hidden:
                key = rng.choice(sorted(hidden))
                cognito.update_device_status(
                    AccessToken=token, DeviceKey=key, DeviceRememberedStatus="remembered"
                )
                hidden.discard(key)
                listable.add(key)
    assert len(seen) == len(set(seen)), "a device was listed twice"
    throughout = {d["key"] for d in initial} - touched
    assert throughout <= set(seen), throughout - set(seen)


def test_forged_altered_or_foreign_pagination_tokens(roomy: tuple[LiveServer, Admin, Any]) -> None:
    _, admin, cognito = roomy
    user = admin.create_user("tara")
    add_devices(admin, user, 3)
    token = admin.token("tara")
    genuine = cognito.list_devices(AccessToken=token, Limit=1)["PaginationToken"]
    payload, _, mac = genuine.partition(".")
    after_ms, after_key = json.loads(b64url_decode(payload))

    other = admin.create_user("ulla")
    add_devices(admin, other, 3)
    other_token = admin.token("ulla")
    theirs = cognito.list_devices(AccessToken=other_token, Limit=1)["PaginationToken"]
    pool = "us-east-1_Elsewhere"
    make_pool(admin, pool)
    namesake = admin.create_user("tara", pool_id=pool)
    add_devices(admin, namesake, 3)
    namesake_token = admin.token("tara", pool_id=pool)
    elsewhere = cognito.list_devices(AccessToken=namesake_token, Limit=1)["PaginationToken"]

    # The first character: the last one of 16 bytes in base64 also carries 4 unused bits.
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    bad = [
        "garbage",
        "abc.def",
        ".",
        "ü.ü",
        genuine + "x",
        payload,  # no signature at all
        b64url(json.dumps([after_ms + 1, after_key]).encode()) + "." + mac,  # altered boundary
        b64url(json.dumps([0, "zz"]).encode()) + "." + b64url(b"\0" * 16),  # forged
        payload + "." + flipped,
        b64url(b'{"a":1}') + "." + mac,
        theirs,  # another user's
        elsewhere,  # the same username in another pool
    ]
    for given in bad:
        refused(
            lambda given=given: cognito.list_devices(AccessToken=token, PaginationToken=given),
            "InvalidParameterException",
            BAD_PAGE,
            what=given,
        )
    # Each genuine token still works for its own user.
    assert len(cognito.list_devices(AccessToken=token, PaginationToken=genuine)["Devices"]) == 2
    assert (
        len(cognito.list_devices(AccessToken=other_token, PaginationToken=theirs)["Devices"]) == 2
    )
    # A token that breaks the model's pattern is a validation error, not a bad token.
    refused(
        lambda: cognito.list_devices(AccessToken=token, PaginationToken="a b"),
        "InvalidParameterException",
        _one(
            "Value 'a b'",
            "paginationToken",
            r"Member must satisfy regular expression pattern: [\S]+",
        ),
    )


# -- the whole story -----------------------------------------------------------------------------
def test_story_add_list_forget_list_sign_out(roomy: tuple[LiveServer, Admin, Any]) -> None:
    _, admin, cognito = roomy
    user = admin.create_user("vera")
    laptop = admin.add_device(user, name="laptop")
    phone = admin.add_device(user, confirmed=False)  # as a sign-in on a new device leaves it
    token = admin.token("vera", device_key=phone)

    assert listed_keys(cognito, token) == [laptop]
    assert (
        cognito.confirm_device(
            AccessToken=token,
            DeviceKey=phone,
            DeviceSecretVerifierConfig=VERIFIER,
            DeviceName="phone",
        )["UserConfirmationNecessary"]
        is False
    )
    assert sorted(listed_keys(cognito, token)) == sorted([laptop, phone])

    assert body_of(cognito.forget_device(AccessToken=token, DeviceKey=laptop)) == {}
    assert listed_keys(cognito, token) == [phone]
    cognito.update_device_status(
        AccessToken=token, DeviceKey=phone, DeviceRememberedStatus="not_remembered"
    )
    assert listed_keys(cognito, token) == []
    cognito.update_device_status(
        AccessToken=token, DeviceKey=phone, DeviceRememberedStatus="remembered"
    )
    assert listed_keys(cognito, token) == [phone]

    assert body_of(cognito.global_sign_out(AccessToken=token)) == {}
    for name, fn in calls(cognito, token, phone).items():
        refused(fn, "NotAuthorizedException", REVOKED, what=name)
    # The devices are still there (a sign-out forgets no device).
    assert admin.redis.hkeys(user.keys.devices) == [phone.encode()]


# -- one Redis command per warm call ---------------------------------------------------------------
class CommandLog:
    """Every command a Redis server runs (MONITOR), with numbered markers between calls."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._marker = redis.Redis.from_url(url)
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        self.entries: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self._n = 0

    def _read(self) -> None:
        while True:
            entry = self._monitor.next_command()
            self.entries.append(entry)
            if entry["command"] == "ECHO cgd-monitor-stop":
                return

    def between(self, fn: Callable[[], Any]) -> int:
        """Run `fn`, bracketed by markers; the marker number to look it up by."""
        self._n += 1
        self._marker.echo(f"cgd-begin-{self._n}")
        fn()
        self._marker.echo(f"cgd-end-{self._n}")
        return self._n

    def commands(self, n: int) -> list[str]:
        """What clients (not scripts) sent between the markers of call `n`."""
        deadline = time.monotonic() + 10
        while f"ECHO cgd-end-{n}" not in [e["command"] for e in self.entries]:
            assert time.monotonic() < deadline, "MONITOR did not show the end marker"
            time.sleep(0.01)
        begin = [e["command"] for e in self.entries].index(f"ECHO cgd-begin-{n}")
        end = [e["command"] for e in self.entries].index(f"ECHO cgd-end-{n}")
        return [e["command"] for e in self.entries[begin + 1 : end] if e["client_type"] != "lua"]

    def stop(self) -> None:
        self._marker.echo("cgd-monitor-stop")
        self._thread.join(10)
        self._monitor.__exit__()
        self._client.close()
        self._marker.close()


@pytest.fixture
def counted() -> Iterator[tuple[LiveServer, Admin, CommandLog]]:
    """A live server on a Redis of its own (nothing else talks to it), with pool polling slowed
    down so that only requests make commands, and MONITOR recording them."""
    server_redis = RedisServer()
    server_redis.start()
    settings = make_settings(server_redis.url, pool_refresh_s=3600.0, **ROOMY)
    flush(settings)
    live = LiveServer(settings).start()
    helper = Admin(settings, live)
    log = CommandLog(server_redis.url)
    try:
        yield live, helper, log
    finally:
        log.stop()
        live.stop()
        helper.redis.close()
        server_redis.stop()


def test_a_warm_call_is_one_evalsha(counted: tuple[LiveServer, Admin, CommandLog]) -> None:
    live, admin, log = counted
    cognito = boto_client(live.url)
    user = admin.create_user("walt")
    devices = [admin.add_device(user) for _ in range(3)]
    spares = [admin.add_device(user, confirmed=False) for _ in range(2)]
    token = admin.token("walt")
    bystander = admin.create_user("xavi")
    bystander_token = admin.token("xavi")
    client_id = pool_clients(admin)[0]
    refresh_tokens = [
        admin.run(
            lambda r, o=o: store.mint_refresh(r, POOL, bystander, client_id=client_id, origin_jti=o)
        )
        for o in ("r-1", "r-2")
    ]

    def run(name: str, token: str, i: int) -> Callable[[], Any]:
        return {
            "GetDevice": lambda: cognito.get_device(AccessToken=token, DeviceKey=devices[0]),
            "ListDevices": lambda: cognito.list_devices(AccessToken=token, Limit=2),
            "UpdateDeviceStatus": lambda: cognito.update_device_status(
                AccessToken=token, DeviceKey=devices[0], DeviceRememberedStatus="remembered"
            ),
            "ForgetDevice": lambda: cognito.forget_device(
                AccessToken=token, DeviceKey=devices[1 + i]
            ),
            "ConfirmDevice": lambda: cognito.confirm_device(
                AccessToken=token, DeviceKey=spares[i], DeviceSecretVerifierConfig=VERIFIER
            ),
            "GlobalSignOut": lambda: cognito.global_sign_out(AccessToken=token),
            "RevokeToken": lambda: cognito.revoke_token(
                Token=refresh_tokens[i], ClientId=client_id
            ),
        }[name]

    scripts = {
        "GetDevice": device_ops.GetDevice.script,
        "ListDevices": device_ops.ListDevices.script,
        "UpdateDeviceStatus": device_ops.UpdateDeviceStatus.script,
        "ForgetDevice": device_ops.ForgetDevice.script,
        "ConfirmDevice": device_ops.ConfirmDevice.script,
        "GlobalSignOut": sign_out.GlobalSignOut.script,
        "RevokeToken": sign_out.REVOKE_REFRESH,
    }
    # Warm up: the token's claims are cached (its first call verifies it and stores them), and
    # every script is loaded. GlobalSignOut warms up with the bystander's token.
    assert cognito.list_devices(AccessToken=token)
    for name in scripts:
        run(name, bystander_token if name == "GlobalSignOut" else token, 0)()

    for name, script in scripts.items():
        marker = log.between(run(name, token, 1))
        sent = log.commands(marker)
        assert len(sent) == 1, (name, sent)
        assert sent[0].startswith(f"EVALSHA {script.sha} "), (name, sent[0][:80])
    # The last call signed the user out: it took effect.
    refused(lambda: cognito.list_devices(AccessToken=token), "NotAuthorizedException", REVOKED)


# -- the AWS CLI -----------------------------------------------------------------------------------
def aws(live: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`aws cognito-idp ...` from this venv, against the live server, with no credentials."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_PAGER": "",
    }
    command = [
        str(Path(sys.executable).parent / "aws"),
        "cognito-idp",
        *args,
        "--endpoint-url",
        live.url,
        "--region",
        "us-east-1",
        "--no-sign-request",
        "--output",
        "json",
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def aws_error(
    result: subprocess.CompletedProcess[str], operation: str, type_name: str, message: str
) -> None:
    # AWS CLI v1 (the one pinned here) exits 255 on a service error; v2 exits 254.
    assert result.returncode in (254, 255), (result.returncode, result.stderr)
    assert result.stdout == ""
    assert (
        f"An error occurred ({type_name}) when calling the {operation} operation: {message}"
        in result.stderr
    ), result.stderr


def test_aws_cli(roomy: tuple[LiveServer, Admin, Any]) -> None:
    live, admin, _ = roomy
    if not (Path(sys.executable).parent / "aws").is_file():
        unavailable("the AWS CLI (a locked dev dependency) is not in this environment")
    user = admin.create_user("yvonne")
    kept = admin.run(lambda r: store.add_device(r, user, name="kept", ip="192.0.2.9"))
    gone = admin.add_device(user)
    fresh = admin.add_device(user, confirmed=False)
    token = admin.token("yvonne", origin_jti="cli-1")
    client_id = pool_clients(admin)[0]
    refresh_token = admin.run(
        lambda r: store.mint_refresh(r, POOL, user, client_id=client_id, origin_jti="cli-1")
    )
    other = admin.token("yvonne", origin_jti="cli-2")
    T = ("--access-token", token)

    # Successes, in an order where each depends on the one before.
    listed = aws(live, "list-devices", *T, "--limit", "1")
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert len(page["Devices"]) == 1 and "PaginationToken" in page
    both = json.loads(aws(live, "list-devices", *T).stdout)
    assert sorted(d["DeviceKey"] for d in both["Devices"]) == sorted([kept["key"], gone])
    named = next(d for d in both["Devices"] if d["DeviceKey"] == kept["key"])
    assert named["DeviceAttributes"] == [
        {"Name": "device_status", "Value": "valid"},
        {"Name": "device_name", "Value": "kept"},
        {"Name": "last_ip_used", "Value": "192.0.2.9"},
    ]
    # Commands whose answer is empty print nothing.
    for args in (
        (
            "update-device-status",
            *T,
            "--device-key",
            gone,
            "--device-remembered-status",
            "not_remembered",
        ),
        ("forget-device", *T, "--device-key", gone),
    ):
        result = aws(live, *args)
        assert (result.returncode, result.stdout.strip()) == (0, ""), result.stderr
    assert not admin.redis.exists(user.keys.device(gone))
    confirmed = aws(
        live, "confirm-device", *T, "--device-key", fresh,
        "--device-secret-verifier-config", "PasswordVerifier=pv,Salt=sa", "--device-name", "cli",
    )  # fmt: skip
    assert confirmed.returncode == 0, confirmed.stderr
    assert json.loads(confirmed.stdout) == {"UserConfirmationNecessary": False}
    assert device_hash(admin, user, fresh)["verifier"] == "pv"

    # One error each.
    aws_error(
        aws(live, "list-devices", *T, "--limit", "61"),
        "ListDevices",
        "InvalidParameterException",
        _one("Value '61'", "limit", "Member must have value less than or equal to 60"),
    )
    aws_error(
        aws(live, "update-device-status", *T, "--device-key", "us-east-1_0000",
            "--device-remembered-status", "remembered"),
        "UpdateDeviceStatus",
        "ResourceNotFoundException",
        NO_DEVICE,
    )  # fmt: skip
    aws_error(
        aws(live, "forget-device", *T, "--device-key", gone),
        "ForgetDevice",
        "ResourceNotFoundException",
        NO_DEVICE,
    )
    aws_error(
        aws(live, "confirm-device", *T, "--device-key", fresh),
        "ConfirmDevice",
        "DeviceKeyExistsException",
        "Device key already exists.",
    )
    aws_error(
        aws(live, "revoke-token", "--token", token, "--client-id", client_id),
        "RevokeToken",
        "UnsupportedTokenTypeException",
        "Unsupported token type.",
    )
    result = aws(live, "revoke-token", "--token", refresh_token, "--client-id", client_id)
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stderr
    aws_error(
        aws(live, "list-devices", *T),
        "ListDevices",
        "NotAuthorizedException",
        REVOKED,
    )
    result = aws(live, "global-sign-out", "--access-token", other)
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stderr
    aws_error(
        aws(live, "global-sign-out", "--access-token", other),
        "GlobalSignOut",
        "NotAuthorizedException",
        REVOKED,
    )


def pool_clients(admin: Admin) -> list[str]:
    """The default pool's app client ids, sorted."""
    record = admin.run(lambda r: store.pool_record(r, POOL))
    return sorted(clients.parse(json.loads(record["clients"])))
