"""`python -m service devices export | import`: exact round trips, AWS shapes, bad lines."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from service.bulk import devices_io
from service.bulk.devices_format import MAX_FIELDS
from service.redis_io import keys, lua
from service.runtime.settings import Settings
from tests import test_cli
from tests.conftest import Admin, LiveServer, flush
from tests.test_cli import POOL, Runner

env = test_cli.env
main = test_cli.main


def device_hashes(admin: Admin) -> dict[str, dict[bytes, bytes]]:
    """Every device hash of the default pool's live generation, by username and key."""
    gen = admin.redis.hget(keys.pool(POOL), "gen").decode()
    found = {}
    for raw in admin.redis.scan_iter(match=keys.devices_sets_pattern(POOL, gen)):
        owner = keys.devices_set_owner(POOL, gen, raw.decode())
        assert owner is not None
        for device_key in admin.redis.hkeys(raw):
            k = keys.UserKeys(POOL, gen, owner).device(device_key.decode())
            found[f"{owner}/{device_key.decode()}"] = admin.redis.hgetall(k)
    return found


def some_devices(admin: Admin) -> None:
    """Devices of every shape: named or not, remembered or not, unconfirmed, confirmed with a
    verifier, IPv6, an unknown field; and owners whose names need the length prefix."""
    alice = admin.create_user("alice")
    admin.add_device(alice, name="Alice's phone", ip="2001:db8::1")
    admin.add_device(alice, remembered=False)
    admin.add_device(alice, confirmed=False)
    odd = admin.create_user("b}:devices.x")
    key = admin.add_device(odd, name="tablet")
    admin.redis.hset(
        odd.keys.device(key), mapping={"confirmed": "1", "verifier": "dmVy", "salt": "c2FsdA",
                                       "other_system": "kept"}
    )  # fmt: skip
    admin.create_user("nodevices")


def test_export_then_import_is_exact(
    live: LiveServer, main: Runner, admin: Admin, settings: Settings, tmp_path: Path
) -> None:
    some_devices(admin)
    before = device_hashes(admin)
    exported = main("devices", "export").stdout
    lines = [json.loads(line) for line in exported.splitlines()]
    assert [line["Username"] for line in lines] == ["alice"] * 3 + ["b}:devices.x"]
    assert lines[0]["Device"]["DeviceKey"] < lines[1]["Device"]["DeviceKey"]
    path = tmp_path / "devices.jsonl"
    path.write_text(exported)
    # Into an empty Redis: the owners are created, every field comes back as it was.
    flush(settings)
    imported = main("devices", "import", str(path), "--create-users")
    assert json.loads(imported.stdout) == {
        "Imported": 4, "Created": 4, "Replaced": 0, "Bad": 0, "Skipped": 0, "Total": 4
    }  # fmt: skip
    assert device_hashes(admin) == before
    assert main("devices", "export").stdout == exported
    # Again: the same devices replaced, nothing else changed.
    again = main("devices", "import", str(path))
    assert json.loads(again.stdout)["Replaced"] == 4
    assert device_hashes(admin) == before
    # One user's devices only.
    alice = main("devices", "export", "--user", "alice").stdout.splitlines()
    assert len(alice) == 3 and all(json.loads(x)["Username"] == "alice" for x in alice)
    nobody = main("devices", "export", "--user", "nobody", ok=False)
    assert nobody.returncode == 1 and "User does not exist." in nobody.stderr


def test_import_takes_admin_list_devices_json(
    live: LiveServer, main: Runner, admin: Admin, cognito: Any, tmp_path: Path
) -> None:
    """What `aws cognito-idp admin-list-devices` prints: ISO dates (CLI v2) or epoch seconds,
    the owner in dev:device_owner; `--user` puts them on another user."""
    admin.create_user("carol")
    admin.create_user("dave")
    created = datetime(2024, 1, 15, 10, 23, 45, 123000, tzinfo=UTC)
    devices = [
        {
            "DeviceKey": "eu-west-1_07032954-25bf-4781-b596-9d675d901072",
            "DeviceAttributes": [
                {"Name": "device_status", "Value": "valid"},
                {"Name": "device_name", "Value": "Pixel 8"},
                {"Name": "dev:device_arn", "Value": "arn:aws:cognito-idp:eu-west-1:1:owner/x"},
                {"Name": "dev:device_owner", "Value": "carol.eu-west-1_Real"},
                {"Name": "last_ip_used", "Value": "203.0.113.9"},
                {"Name": "dev:device_remembered_status", "Value": "remembered"},
                {"Name": "dev:device_sdk", "Value": "aws-sdk-android"},
            ],
            "DeviceCreateDate": created.isoformat(),
            "DeviceLastModifiedDate": "2024-02-01T00:00:00Z",
            "DeviceLastAuthenticatedDate": 1706745600.5,
        }
    ]
    path = tmp_path / "aws.json"
    path.write_text(json.dumps({"Devices": devices}, indent=4))
    assert json.loads(main("devices", "import", str(path)).stdout)["Imported"] == 1
    token = admin.token("carol")
    got = cognito.get_device(AccessToken=token, DeviceKey=devices[0]["DeviceKey"])["Device"]
    assert got["DeviceCreateDate"] == created
    assert got["DeviceLastAuthenticatedDate"].timestamp() == 1706745600.5
    assert {"Name": "device_name", "Value": "Pixel 8"} in got["DeviceAttributes"]
    # --user wins over dev:device_owner.
    main("devices", "import", str(path), "--user", "dave")
    listed = cognito.list_devices(AccessToken=admin.token("dave"))["Devices"]
    assert [d["DeviceKey"] for d in listed] == [devices[0]["DeviceKey"]]


def test_bad_lines_are_reported_and_the_good_ones_imported(
    live: LiveServer, main: Runner, admin: Admin, tmp_path: Path
) -> None:
    erin = admin.create_user("erin")
    good = main("devices", "export").stdout  # nothing yet
    assert good == ""
    admin.add_device(erin, name="one")
    admin.add_device(erin, name="two")
    good_lines = main("devices", "export").stdout.splitlines()
    bad_key = json.loads(good_lines[0])
    bad_key["Device"]["DeviceKey"] = "not a key"
    no_owner = json.loads(good_lines[0])
    del no_owner["Username"]
    no_owner["Device"]["DeviceAttributes"] = [
        a for a in no_owner["Device"]["DeviceAttributes"] if a["Name"] != "dev:device_owner"
    ]
    stranger = json.loads(good_lines[1])
    stranger["Username"] = "stranger"
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [good_lines[0], "{not json", json.dumps(bad_key), "", json.dumps(no_owner),
             json.dumps(stranger), good_lines[1]]
        ) + "\n"
    )  # fmt: skip
    store_devices = keys.UserKeys(POOL, erin.gen, "erin").devices
    admin.redis.delete(store_devices)
    proc = main("devices", "import", str(path), ok=False)
    assert proc.returncode == 1
    errors = proc.stderr.splitlines()
    assert errors[0].startswith("line 2: not JSON")
    assert errors[1].startswith("line 3: device key 'not a key' must match")
    assert errors[2] == "line 5: no owner: give Username, dev:device_owner or --user"
    assert errors[3] == "line 6: user stranger does not exist (--create-users creates it)"
    assert errors[-1] == "error: 4 of 6 devices not imported (see above)"
    assert json.loads(proc.stdout)["Imported"] == 2
    assert admin.redis.hlen(store_devices) == 2
    # --strict: every line is checked before anything is written, so the first bad line
    # (the only one reported) means nothing is written.
    admin.redis.delete(store_devices)
    proc = main("devices", "import", str(path), "--strict", ok=False)
    assert proc.returncode == 1
    errors = proc.stderr.splitlines()
    assert errors[0].startswith("line 2: not JSON")
    assert errors[1:] == ["error: 6 of 6 devices not imported (see above)"]
    assert json.loads(proc.stdout) == {
        "Imported": 0, "Created": 0, "Replaced": 0, "Bad": 1, "Skipped": 5, "Total": 6
    }  # fmt: skip
    assert not admin.redis.exists(store_devices)
    missing = main("devices", "import", str(tmp_path / "nope.jsonl"), ok=False)
    assert missing.returncode == 1 and "cannot read" in missing.stderr


# -- limits (issue 20 §4: a bulk import never half-writes) ------------------------------------
def one_line(proc_stdout: str) -> dict[str, Any]:
    [line] = proc_stdout.splitlines()
    return dict(json.loads(line))


def test_a_line_past_the_limits_is_skipped_and_its_device_kept(
    live: LiveServer, main: Runner, admin: Admin, cognito: Any, tmp_path: Path
) -> None:
    """A line with 6,000 Extra fields, replacing a device a worker has served: refused before
    anything is written, so GetDevice (boto3), AdminGetDevice and export still agree on the old
    device; the good line after it in the same batch is written, and the counts are printed."""
    user = admin.create_user("frank")
    key = admin.add_device(user, name="kept")
    token = admin.token("frank")
    # The worker now holds the device (its cache is keyed by the user's devices version).
    served = cognito.get_device(AccessToken=token, DeviceKey=key)["Device"]
    admin_view = cognito.admin_get_device(UserPoolId=POOL, Username="frank", DeviceKey=key)
    exported = main("devices", "export").stdout
    hostile = one_line(exported)
    hostile["Extra"] = {f"x{i}": "v" for i in range(6000)}
    good = one_line(exported)
    good_key = f"us-east-1_{uuid.uuid4()}"
    good["Device"]["DeviceKey"] = good_key
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps(hostile) + "\n" + json.dumps(good) + "\n")
    proc = main("devices", "import", str(path), ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "line 1: Extra has 6000 fields; a device has at most 16 besides its own",
        "error: 1 of 2 devices not imported (see above)",
    ]
    assert json.loads(proc.stdout) == {
        "Imported": 1, "Created": 1, "Replaced": 0, "Bad": 1, "Skipped": 0, "Total": 2
    }  # fmt: skip
    # The old device, whole, everywhere.
    assert cognito.get_device(AccessToken=token, DeviceKey=key)["Device"] == served
    again = cognito.admin_get_device(UserPoolId=POOL, Username="frank", DeviceKey=key)
    assert again["Device"] == admin_view["Device"]
    lines = {
        one_line(x)["Device"]["DeviceKey"]: x for x in main("devices", "export").stdout.splitlines()
    }
    assert lines[key] + "\n" == exported
    # The good line: written, and served (the devices version moved on).
    assert set(lines) == {key, good_key}
    got = cognito.get_device(AccessToken=token, DeviceKey=good_key)["Device"]
    assert got["DeviceKey"] == good_key


def at_the_limits(username: str) -> dict[str, Any]:
    """A line with every field a device hash can hold, each as long as the limits allow, and as
    many DeviceAttributes and Extra fields as they allow (service/bulk/devices_format.py)."""
    device_key = f"us-east-1_{uuid.uuid4()}"
    attributes = [
        {"Name": "device_status", "Value": "s" * 2048},
        {"Name": "device_name", "Value": "n" * 1024},
        {"Name": "last_ip_used", "Value": "2001:db8::7"},
        {"Name": "dev:device_remembered_status", "Value": "remembered"},
        {"Name": "dev:device_sdk", "Value": "k" * 2048},
    ]
    # Names Cognito does not have are read and dropped, but count against the limit.
    attributes += [
        {"Name": f"dev:other_{i:02}".ljust(32, "_"), "Value": "a" * 2048}
        for i in range(16 - len(attributes))
    ]
    return {
        "Username": username,
        "Device": {
            "DeviceKey": device_key,
            "DeviceAttributes": attributes,
            "DeviceCreateDate": 1715100742.022,
            "DeviceLastModifiedDate": 1715100742.5,
            "DeviceLastAuthenticatedDate": 1715100742.0,
        },
        "Confirmed": True,
        "DeviceSecretVerifierConfig": {"PasswordVerifier": "v" * 131072, "Salt": "t" * 131072},
        "Extra": {f"extra_{i:02}".ljust(32, "x"): "e" * 2048 for i in range(16)},
    }


def test_a_line_at_the_limits_is_imported_and_one_past_any_of_them_is_not(
    live: LiveServer, main: Runner, admin: Admin, tmp_path: Path
) -> None:
    gina = admin.create_user("gina")
    at_limit = at_the_limits("gina")

    def attributes(line: dict[str, Any]) -> list[dict[str, str]]:
        return list(line["Device"]["DeviceAttributes"])

    def extra_name(name: str) -> Callable[[dict[str, Any]], None]:
        def change(line: dict[str, Any]) -> None:
            line["Extra"].popitem()
            line["Extra"][name] = "y"

        return change

    def attribute(index: int, **member: str) -> Callable[[dict[str, Any]], None]:
        return lambda line: line["Device"]["DeviceAttributes"][index].update(member)

    past: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
        (
            "DeviceAttributes has 17 entries; a device has at most 16",
            lambda line: line["Device"]["DeviceAttributes"].append({"Name": "a", "Value": "b"}),
        ),
        (
            "Extra has 17 fields; a device has at most 16 besides its own",
            lambda line: line["Extra"].update(one_more="y"),
        ),
        (
            f"Extra field name {'z' * 33!r} must be 1 to 32 characters long, not 33",
            extra_name("z" * 33),
        ),
        (
            "Extra field name 'a\\x00b' may hold only letters, marks, symbols, numbers, "
            "punctuation and white space (not '\\x00')",
            extra_name("a\x00b"),
        ),
        (
            f"Extra field {'extra_00'.ljust(32, 'x')} must be at most 2048 characters long, "
            "not 2049",
            lambda line: line["Extra"].update({"extra_00".ljust(32, "x"): "e" * 2049}),
        ),
        (
            f"an attribute's Name {'dev:other_05'.ljust(33, '_')!r} must be 1 to 32 characters "
            "long, not 33",
            attribute(5, Name="dev:other_05".ljust(33, "_")),
        ),
        (
            "attribute dev:device_sdk must be at most 2048 characters long, not 2049",
            attribute(4, Value="k" * 2049),
        ),
        (
            f"attribute {'dev:other_10'.ljust(32, '_')} must be at most 2048 characters long, "
            "not 2049",
            attribute(15, Value="a" * 2049),
        ),
        (
            "PasswordVerifier must be at most 131072 characters long, not 131073",
            lambda line: line["DeviceSecretVerifierConfig"].update(PasswordVerifier="v" * 131073),
        ),
    ]
    lines = [json.dumps(at_limit)]
    for _, change in past:
        line = at_the_limits("gina")
        change(line)
        lines.append(json.dumps(line))
    path = tmp_path / "limits.jsonl"
    path.write_text("\n".join(lines) + "\n")
    proc = main("devices", "import", str(path), ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        *(f"line {i}: {message}" for i, (message, _) in enumerate(past, 2)),
        f"error: {len(past)} of {len(past) + 1} devices not imported (see above)",
    ]
    assert json.loads(proc.stdout) == {
        "Imported": 1, "Created": 1, "Replaced": 0, "Bad": len(past), "Skipped": 0,
        "Total": len(past) + 1,
    }  # fmt: skip
    # Every field a device hash can hold went through import_device.lua, and comes back out.
    device = gina.keys.device(at_limit["Device"]["DeviceKey"])
    assert admin.redis.hlen(device) == MAX_FIELDS == 28
    assert f"local MAX_FIELDS = {MAX_FIELDS}\n" in lua.IMPORT_DEVICE.source
    back = one_line(main("devices", "export").stdout)
    assert back["Extra"] == at_limit["Extra"]
    assert back["DeviceSecretVerifierConfig"] == at_limit["DeviceSecretVerifierConfig"]
    shown = {a["Name"]: a["Value"] for a in attributes(back)}
    assert all(shown[a["Name"]] == a["Value"] for a in attributes(at_limit)[:5])


def test_import_device_lua_refuses_more_fields_than_a_device_has(
    live: LiveServer, admin: Admin
) -> None:
    """The script's own guard, before its first write: `unpack` of ~8,000 values fails, and
    Redis does not undo what a failing script wrote before it."""
    user = admin.create_user("hank")
    key = admin.add_device(user, name="kept")
    k = user.keys
    before = admin.redis.hgetall(k.device(key)), admin.redis.hgetall(k.user)

    def run(pairs: int, *tail: str) -> Any:
        fields = [x for i in range(pairs - 1) for x in (f"x{i}", "v")]
        argv = [key, "", "hank", "key", key, *fields, *tail]
        return admin.redis.eval(
            lua.IMPORT_DEVICE.source, 3, k.user, k.devices, k.device(key), *argv
        )

    assert run(4000) == -1  # past unpack's limit
    assert run(MAX_FIELDS + 1) == -1
    assert run(2, "odd") == -1  # a field without its value
    assert (admin.redis.hgetall(k.device(key)), admin.redis.hgetall(k.user)) == before
    assert run(MAX_FIELDS) == 2


def test_a_redis_error_is_reported_by_its_line_and_writes_nothing_of_it(
    live: LiveServer, main: Runner, admin: Admin, tmp_path: Path
) -> None:
    """An error reply for one script of a batch (here WRONGTYPE: jack's user key is not a hash)
    is that line's `line N: …`; the rest of the batch is written and the counts printed."""
    ivan = admin.create_user("ivan")
    admin.add_device(ivan, name="one")
    line = one_line(main("devices", "export").stdout)
    jack = keys.UserKeys(POOL, ivan.gen, "jack")
    admin.redis.set(jack.user, "not a hash")
    jacks = dict(line, Username="jack")
    jacks["Device"] = dict(line["Device"], DeviceKey=f"us-east-1_{uuid.uuid4()}")
    ivans = dict(line, Device=dict(line["Device"], DeviceKey=f"us-east-1_{uuid.uuid4()}"))
    path = tmp_path / "wrongtype.jsonl"
    path.write_text(json.dumps(jacks) + "\n" + json.dumps(ivans) + "\n")
    proc = main("devices", "import", str(path), ok=False)
    assert proc.returncode == 1
    errors = proc.stderr.splitlines()
    assert errors[0].startswith("line 1: not written: Redis answered ")
    assert "WRONGTYPE" in errors[0] and "Traceback" not in proc.stderr
    assert errors[1:] == ["error: 1 of 2 devices not imported (see above)"]
    assert json.loads(proc.stdout)["Imported"] == 1
    assert not admin.redis.exists(jack.devices, jack.device(jacks["Device"]["DeviceKey"]))
    assert admin.redis.hlen(ivan.keys.devices) == 2


def test_a_connection_lost_mid_batch_is_reported_by_its_lines(
    live: LiveServer, admin: Admin, tmp_path: Path
) -> None:
    """Redis reached through a proxy that drops the connection when the batch's EVALSHAs come
    through (every time: redis-py retries): one line names the batch, the report counts its
    records as skipped, and nothing is raised."""
    admin.create_user("kim")
    path = tmp_path / "three.jsonl"
    path.write_text(
        "".join(
            json.dumps({"Username": "kim", "Device": {"DeviceKey": f"us-east-1_{uuid.uuid4()}"}})
            + "\n"
            for _ in range(3)
        )
    )
    upstream = urlsplit(admin.url)
    err = io.StringIO()

    async def forward(src: asyncio.StreamReader, dst: asyncio.StreamWriter, cut: bool) -> None:
        while data := await src.read(65536):
            if cut and b"EVALSHA" in data:
                return
            dst.write(data)
            await dst.drain()

    async def proxy(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(upstream.hostname, upstream.port)
        try:
            done, pending = await asyncio.wait(
                [
                    asyncio.ensure_future(forward(client_r, up_w, True)),
                    asyncio.ensure_future(forward(up_r, client_w, False)),
                ],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*done, *pending, return_exceptions=True)
        finally:
            for w in (up_w, client_w):
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()

    async def go(_: Any) -> devices_io.ImportReport:
        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        r = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
        try:
            return await devices_io.import_file(r, POOL, str(path), progress=False, err=err)
        finally:
            await r.aclose()
            server.close()
            await server.wait_closed()

    report = admin.run(go)  # about 3 s: redis-py's retries back off
    assert (report.total, report.created, report.bad, report.skipped) == (3, 0, [], 3)
    [message] = err.getvalue().splitlines()
    assert message.startswith("line 1 to line 3: not known to be written (Redis: ConnectionError:")
