"""The conditional reads of ListDevices and GetDevice (service/ops/devices.py, list_devices.lua,
get_device.lua): a worker holds a user's whole rendered list, or one device's answer, and Redis
answers "SAME" while the user's devices version ("<sub>:<dv>") is current. Every device writer
moves the version; an unchanged list or device reads no device; pages are never answered from a
held list; and device indexes that earlier releases wrote as a SET still work, converted to the
HASH on first touch."""

from __future__ import annotations

import functools
import io
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service import store
from service.bulk import devices_io, seed_plan, seeding
from service.http.app import API
from service.ops import devices as device_ops
from tests.auth_helpers import PASSWORD, default_client, user_with_password
from tests.conftest import Admin, LiveServer, boto_client
from tests.helpers_tokens import TARGET_PREFIX, call
from tests.test_device_ops import VERIFIER, body_of, listed_keys

POOL = "us-east-1_LocalPool"
ELSEWHERE = "192.0.2.1"  # a device's last_ip that no request of these tests comes from

# (boto3 client, access token, device key) -> None: one change of a device of "alice".
Change = Callable[[Any, str, str], object]


@pytest.fixture
def cognito(live: LiveServer) -> Iterator[Any]:
    client = boto_client(live.url)
    yield client
    client.close()


def held(live: LiveServer) -> device_ops.PageCache:
    """The live worker's held ListDevices answers."""
    run = live.app[API].operations["ListDevices"]
    assert isinstance(run, functools.partial)  # step.run bound to the operation
    op = run.args[0]
    assert isinstance(op, device_ops.ListDevices)
    return op.pages


def listed(cognito: Any, token: str) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = cognito.list_devices(AccessToken=token)["Devices"]
    return devices


def attribute(device: dict[str, Any], name: str) -> str | None:
    values = [a["Value"] for a in device["DeviceAttributes"] if a["Name"] == name]
    return values[0] if values else None


def by_key(devices: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["DeviceKey"]: d for d in devices}


def held_then(
    live: LiveServer, cognito: Any, user: store.User, token: str, change: Callable[[], object]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """List twice (the worker then holds the list, and answers the second from it), make
    `change`, list again: (the list before, the list after)."""
    before = listed(cognito, token)
    assert user.keys.base in held(live)
    assert listed(cognito, token) == before
    change()
    return before, listed(cognito, token)


def list_raw(live: LiveServer, token: str, **kw: Any) -> bytes:
    answer = call(live.url, {"AccessToken": token, **kw}, target=TARGET_PREFIX + "ListDevices")
    assert answer.status == 200
    return answer.body


def counted(admin: Admin, fn: Callable[[], object]) -> dict[str, int]:
    """How many times Redis ran each command (scripts' commands included) while `fn` ran."""
    before = admin.redis.info("commandstats")
    fn()
    after = admin.redis.info("commandstats")
    moved = {k: s["calls"] - before.get(k, {"calls": 0})["calls"] for k, s in after.items()}
    return {k.removeprefix("cmdstat_"): int(n) for k, n in moved.items() if n}


def old_layout(admin: Admin, user: store.User) -> None:
    """Rewrite the user's device index as the SET releases before the HASH wrote."""
    members = admin.redis.hkeys(user.keys.devices)
    admin.redis.delete(user.keys.devices)
    admin.redis.sadd(user.keys.devices, *members)
    assert admin.redis.type(user.keys.devices) == b"set"


# -- every device writer moves the version ---------------------------------------------------
def test_a_device_added_by_the_store_is_listed(
    live: LiveServer, cognito: Any, admin: Admin
) -> None:
    user, device, token = admin.user_with_device("alice")
    new = f"us-east-1_{uuid.uuid4()}"
    before, after = held_then(live, cognito, user, token, lambda: admin.add_device(user, key=new))
    assert [d["DeviceKey"] for d in before] == [device]
    assert sorted(d["DeviceKey"] for d in after) == sorted([device, new])


def _status(admin_call: bool, remembered: str) -> Change:
    if admin_call:
        return lambda c, _, d: c.admin_update_device_status(
            UserPoolId=POOL, Username="alice", DeviceKey=d, DeviceRememberedStatus=remembered
        )
    return lambda c, t, d: c.update_device_status(
        AccessToken=t, DeviceKey=d, DeviceRememberedStatus=remembered
    )


HIDE: dict[str, tuple[Change, Change | None]] = {
    "UpdateDeviceStatus": (_status(False, "not_remembered"), _status(False, "remembered")),
    "AdminUpdateDeviceStatus": (_status(True, "not_remembered"), _status(True, "remembered")),
    "ForgetDevice": (lambda c, t, d: c.forget_device(AccessToken=t, DeviceKey=d), None),
    "AdminForgetDevice": (
        lambda c, _, d: c.admin_forget_device(UserPoolId=POOL, Username="alice", DeviceKey=d),
        None,
    ),
}


@pytest.mark.parametrize("writer", sorted(HIDE))
def test_a_device_hidden_or_forgotten_leaves_the_list(
    live: LiveServer, cognito: Any, admin: Admin, writer: str
) -> None:
    hide, restore = HIDE[writer]
    user, device, token = admin.user_with_device("alice")
    kept = admin.add_device(user)
    before, after = held_then(live, cognito, user, token, lambda: hide(cognito, token, device))
    assert sorted(d["DeviceKey"] for d in before) == sorted([device, kept])
    assert listed_keys(cognito, token) == [kept] == [d["DeviceKey"] for d in after]
    if restore is not None:  # remembered again: back in the list the worker now holds
        restore(cognito, token, device)
        assert sorted(listed_keys(cognito, token)) == sorted([device, kept])


def test_a_signed_in_device_confirmed_is_listed(
    live: LiveServer, cognito: Any, admin: Admin
) -> None:
    user = user_with_password(admin)
    phone = admin.add_device(user)
    token = admin.token("alice")
    signed_in: dict[str, Any] = {}

    def sign_in() -> None:  # registers an unconfirmed device: not listed
        params = {"USERNAME": "alice", "PASSWORD": PASSWORD}
        signed_in.update(
            cognito.initiate_auth(
                AuthFlow="USER_PASSWORD_AUTH", ClientId=default_client(admin), AuthParameters=params
            )["AuthenticationResult"]
        )

    before, after = held_then(live, cognito, user, token, sign_in)
    assert [d["DeviceKey"] for d in before] == [phone] == [d["DeviceKey"] for d in after]
    new = signed_in["NewDeviceMetadata"]["DeviceKey"]
    cognito.confirm_device(
        AccessToken=signed_in["AccessToken"],
        DeviceKey=new,
        DeviceSecretVerifierConfig=VERIFIER,
        DeviceName="laptop",
    )
    now = by_key(listed(cognito, token))
    assert sorted(now) == sorted([phone, new])
    assert attribute(now[new], "device_name") == "laptop"


@pytest.mark.parametrize("flow", ["USER_PASSWORD_AUTH", "REFRESH_TOKEN_AUTH"])
def test_a_sign_in_with_a_device_updates_its_last_ip(
    live: LiveServer, cognito: Any, admin: Admin, flow: str
) -> None:
    """The server trusts no proxy (TRUSTED_PROXIES is empty in these tests), so every request
    comes from loopback: the device starts with another last_ip, and the sign-in sets it."""
    user = user_with_password(admin)
    client_id = default_client(admin)
    params = {"USERNAME": "alice", "PASSWORD": PASSWORD}
    first = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH", ClientId=client_id, AuthParameters=params
    )["AuthenticationResult"]
    # The refresh token's device (with a verifier: a password sign-in presenting it would be
    # asked DEVICE_SRP_AUTH), and one without a verifier for the password flow to present.
    signed = first["NewDeviceMetadata"]["DeviceKey"]
    token = first["AccessToken"]
    cognito.confirm_device(AccessToken=token, DeviceKey=signed, DeviceSecretVerifierConfig=VERIFIER)
    admin.redis.hset(user.keys.device(signed), "last_ip", ELSEWHERE)  # before any list
    plain = admin.run(lambda r: store.add_device(r, user, ip=ELSEWHERE))["key"]
    target, other = (plain, signed) if flow == "USER_PASSWORD_AUTH" else (signed, plain)
    if flow == "USER_PASSWORD_AUTH":
        params["DEVICE_KEY"] = plain
    else:
        params = {"REFRESH_TOKEN": first["RefreshToken"]}

    def sign_in() -> None:
        again = cognito.initiate_auth(AuthFlow=flow, ClientId=client_id, AuthParameters=params)
        assert "NewDeviceMetadata" not in again["AuthenticationResult"]

    before, after = held_then(live, cognito, user, token, sign_in)
    assert {attribute(d, "last_ip_used") for d in before} == {ELSEWHERE}
    now = by_key(after)
    stored = admin.redis.hget(user.keys.device(target), "last_ip")
    assert stored is not None and stored.decode() != ELSEWHERE
    assert attribute(now[target], "last_ip_used") == stored.decode()
    assert now[other] == by_key(before)[other]


def test_devices_import_of_a_renamed_device(
    live: LiveServer, cognito: Any, admin: Admin, tmp_path: Path
) -> None:
    user, device, token = admin.user_with_device("alice")
    out = io.BytesIO()
    admin.run(lambda r: devices_io.export(r, POOL, out, settings=admin.settings))
    line = json.loads(out.getvalue())
    for a in line["Device"]["DeviceAttributes"]:
        if a["Name"] == "device_name":
            a["Value"] = "renamed"
    path = tmp_path / "devices.jsonl"
    path.write_text(json.dumps(line) + "\n")
    reports: list[devices_io.ImportReport] = []

    async def load(r: Any) -> None:
        reports.append(await devices_io.import_file(r, POOL, str(path), progress=False))

    before, after = held_then(live, cognito, user, token, lambda: admin.run(load))
    assert reports[0].replaced == 1 and not reports[0].bad
    assert [attribute(d, "device_name") for d in before] == ["alice-phone"]
    assert [(d["DeviceKey"], attribute(d, "device_name")) for d in after] == [(device, "renamed")]


def test_seeding_more_devices_for_a_seeded_user(
    live: LiveServer, cognito: Any, admin: Admin
) -> None:
    def seed(devices: int) -> None:
        plan = seed_plan.SeedPlan(admin.url, POOL, "seed", users=1, devices=devices)
        admin.run(lambda r: seeding.seed(r, plan, io.BytesIO(), workers=1, progress=False))

    seed(1)
    user = admin.run(lambda r: store.get_user(r, POOL, "seed-000001"))
    before, after = held_then(live, cognito, user, admin.token("seed-000001"), lambda: seed(3))
    assert len(before) == 1 and len(after) == 3
    assert {d["DeviceKey"] for d in before} < {d["DeviceKey"] for d in after}


@pytest.mark.parametrize("how", ["AdminDeleteUser", "store.delete_user"])
def test_a_user_made_again_is_not_answered_the_old_users_list(
    live: LiveServer, cognito: Any, admin: Admin, how: str
) -> None:
    old, old_device, old_token = admin.user_with_device("alice")
    assert listed_keys(cognito, old_token) == [old_device] == listed_keys(cognito, old_token)
    assert old.keys.base in held(live)
    if how == "AdminDeleteUser":
        cognito.admin_delete_user(UserPoolId=POOL, Username="alice")
    else:
        admin.run(lambda r: store.delete_user(r, POOL, "alice"))
    # Made again with one device too: the same dv as the old user's, only the sub differs.
    new, new_device, new_token = admin.user_with_device("alice")
    assert new.keys.base == old.keys.base
    assert listed_keys(cognito, new_token) == [new_device] != [old_device]


# -- what the held answer saves, and when it is not used --------------------------------------
def test_an_unchanged_list_reads_no_device(live: LiveServer, admin: Admin) -> None:
    user = admin.create_user("alice")
    devices = [admin.add_device(user, name=f"d{i}") for i in range(3)]
    token = admin.token("alice")
    call(live.url, {"AccessToken": token, "DeviceKey": devices[0]})  # GetDevice caches claims
    answers: list[bytes] = []
    first = counted(admin, lambda: answers.append(list_raw(live, token)))
    second = counted(admin, lambda: answers.append(list_raw(live, token)))
    assert first.get("hkeys") == 1 and "hkeys" not in second
    # The version is one HMGET of the user; the first list read each device with another.
    assert first["hmget"] - second["hmget"] == len(devices)
    assert answers[0] == answers[1]
    assert sorted(d["DeviceKey"] for d in json.loads(answers[0])["Devices"]) == sorted(devices)
    # Rendered afresh at a new version of the same devices: the same bytes as the held answer.
    admin.redis.hincrby(user.keys.user, "dv", 1)
    third = counted(admin, lambda: answers.append(list_raw(live, token)))
    assert third.get("hkeys") == 1 and answers[2] == answers[1]
    # The version alone decides: a write that bypasses the scripts is not seen until dv moves.
    admin.redis.hset(user.keys.device(devices[0]), "name", "bypassed")
    assert list_raw(live, token) == answers[0]
    admin.redis.hincrby(user.keys.user, "dv", 1)
    assert b'"bypassed"' in list_raw(live, token)


def test_a_smaller_limit_and_later_pages_are_not_answered_from_the_held_list(
    live: LiveServer, cognito: Any, admin: Admin
) -> None:
    user, _, token = admin.user_with_device("alice")
    admin.add_device(user)
    whole = body_of(cognito.list_devices(AccessToken=token))
    assert len(whole["Devices"]) == 2 and "PaginationToken" not in whole
    assert user.keys.base in held(live)
    page = body_of(cognito.list_devices(AccessToken=token, Limit=1))
    assert page["Devices"] == whole["Devices"][:1] and page["PaginationToken"]
    last = body_of(
        cognito.list_devices(AccessToken=token, Limit=1, PaginationToken=page["PaginationToken"])
    )
    assert last == {"Devices": whole["Devices"][1:]}
    # The last page (one device, nothing after it) was not taken for the whole list.
    assert body_of(cognito.list_devices(AccessToken=token)) == whole
    assert body_of(cognito.list_devices(AccessToken=token, Limit=2)) == whole


# -- device indexes written as a SET by earlier releases ---------------------------------------
@pytest.mark.parametrize("first", ["ListDevices", "ForgetDevice", "export", "delete_user"])
def test_the_first_touch_takes_an_old_set_index(cognito: Any, admin: Admin, first: str) -> None:
    user, device, token = admin.user_with_device("alice")
    other = admin.add_device(user)
    old_layout(admin, user)
    left = [device, other]
    if first == "ListDevices":
        assert sorted(listed_keys(cognito, token)) == sorted(left)
    elif first == "ForgetDevice":
        cognito.forget_device(AccessToken=token, DeviceKey=device)
        left = [other]
    elif first == "export":  # `devices export`
        out = io.BytesIO()
        admin.run(lambda r: devices_io.export(r, POOL, out, settings=admin.settings))
        exported = [json.loads(x)["Device"]["DeviceKey"] for x in out.getvalue().splitlines()]
        assert exported == sorted(left)
    else:
        admin.run(lambda r: store.delete_user(r, POOL, "alice"))
        doomed = [user.keys.user, user.keys.devices, *map(user.keys.device, left)]
        assert not admin.redis.exists(*doomed)
        return
    assert admin.redis.type(user.keys.devices) == b"hash"
    assert admin.redis.hgetall(user.keys.devices) == {k.encode(): b"1" for k in left}
    assert sorted(listed_keys(cognito, token)) == sorted(left)


# -- GetDevice: the same conditional read, one device at a time --------------------------------
def get_held(live: LiveServer) -> Any:
    """The live worker's held GetDevice answers."""
    run = live.app[API].operations["GetDevice"]
    assert isinstance(run, functools.partial)
    op = run.args[0]
    assert isinstance(op, device_ops.GetDevice)
    return op.held


def got(cognito: Any, token: str, device: str) -> dict[str, Any] | None:
    """GetDevice's Device, or None for Cognito's "Device does not exist."."""
    try:
        answer: dict[str, Any] = cognito.get_device(AccessToken=token, DeviceKey=device)["Device"]
    except ClientError as exc:
        assert exc.response["Error"] == {
            "Code": "ResourceNotFoundException",
            "Message": "Device does not exist.",
        }
        return None
    return answer


@pytest.mark.parametrize("writer", sorted(HIDE))
def test_a_held_device_hidden_or_forgotten_is_not_found(
    live: LiveServer, cognito: Any, admin: Admin, writer: str
) -> None:
    hide, restore = HIDE[writer]
    user, device, token = admin.user_with_device("alice")
    first = got(cognito, token, device)
    assert first is not None and (user.keys.base, device) in get_held(live)
    assert got(cognito, token, device) == first
    hide(cognito, token, device)
    assert got(cognito, token, device) is None
    if restore is not None:
        restore(cognito, token, device)
        again = got(cognito, token, device)
        assert again is not None and again["DeviceKey"] == device
        assert again["DeviceLastModifiedDate"] > first["DeviceLastModifiedDate"]


def test_a_held_device_renamed_by_an_import_is_answered_renamed(
    live: LiveServer, cognito: Any, admin: Admin, tmp_path: Path
) -> None:
    user, device, token = admin.user_with_device("alice")
    assert attribute(got(cognito, token, device) or {}, "device_name") == "alice-phone"
    assert (user.keys.base, device) in get_held(live)
    out = io.BytesIO()
    admin.run(lambda r: devices_io.export(r, POOL, out, settings=admin.settings))
    text = out.getvalue().decode().replace('"alice-phone"', '"renamed"')
    path = tmp_path / "devices.jsonl"
    path.write_text(text)
    admin.run(lambda r: devices_io.import_file(r, POOL, str(path), progress=False))
    assert attribute(got(cognito, token, device) or {}, "device_name") == "renamed"


def test_a_user_made_again_is_not_answered_the_old_users_device(
    live: LiveServer, cognito: Any, admin: Admin
) -> None:
    _, device, old_token = admin.user_with_device("alice")
    assert got(cognito, old_token, device) is not None
    admin.run(lambda r: store.delete_user(r, POOL, "alice"))
    new = admin.create_user("alice")
    # The same device key for the new user, not remembered: the old user's held answer (at the
    # same dv, another sub) must not be given for it.
    admin.add_device(new, key=device, remembered=False)
    assert int(admin.redis.hget(new.keys.user, "dv") or 0) == 1
    assert got(cognito, admin.token("alice"), device) is None


def test_an_unchanged_device_is_not_read(live: LiveServer, admin: Admin) -> None:
    user, device, token = admin.user_with_device("alice")
    answers: list[bytes] = []

    def get() -> None:
        answer = call(live.url, {"AccessToken": token, "DeviceKey": device})
        assert answer.status == 200
        answers.append(answer.body)

    # The first call verifies the token (its claims are not cached yet: the script answers MISS
    # before reading anything) and reads the device; the next ones read only the user (the
    # session's HMGET) while the worker holds the device's answer.
    first = counted(admin, get)
    second = counted(admin, get)
    assert first["hmget"] == 2 and second["hmget"] == 1
    assert answers[0] == answers[1]
    admin.redis.hincrby(user.keys.user, "dv", 1)
    assert counted(admin, get)["hmget"] == 2 and answers[2] == answers[0]
