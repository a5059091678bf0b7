"""`python -m service devices export | import`: exact round trips, AWS shapes, bad lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service import keys
from service.settings import Settings
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
    assert json.loads(imported.stdout) == {"Imported": 4, "Created": 4, "Replaced": 0, "Bad": 0}
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
    # --strict: the first bad line stops it, nothing after it is written.
    admin.redis.delete(store_devices)
    proc = main("devices", "import", str(path), "--strict", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0].startswith("line 2: not JSON")
    assert admin.redis.hlen(store_devices) == 1
    missing = main("devices", "import", str(tmp_path / "nope.jsonl"), ok=False)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
