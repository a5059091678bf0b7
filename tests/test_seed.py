"""`python -m service seed`: users, devices and tokens in bulk, checked against the live server."""

from __future__ import annotations

import csv
import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from service import store
from service.model import clients
from service.redis_io import keys
from service.runtime.settings import Settings
from tests import test_cli
from tests.conftest import Admin, LiveServer
from tests.test_cli import POOL, Runner, run_cli

# test_cli's fixtures: the environment, and `python -m service` run in this process.
env = test_cli.env
main = test_cli.main


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_seed_writes_one_line_per_user_whose_tokens_work(
    live: LiveServer, main: Runner, cognito: Any, tmp_path: Path, admin: Admin
) -> None:
    out = tmp_path / "seed.jsonl"
    main("seed", "--users", "120", "--devices", "2", "--tokens", "--out", str(out))
    rows = read_jsonl(out)
    assert [r["username"] for r in rows] == [f"user-{i:06d}" for i in range(1, 121)]
    assert list(rows[0]) == ["username", "sub", "device_keys", "access_token", "refresh_token"]
    for row in rows[:5] + rows[-5:]:
        assert len(row["device_keys"]) == 2
        assert row["device_keys"] == sorted(row["device_keys"])
        got = cognito.get_device(AccessToken=row["access_token"], DeviceKey=row["device_keys"][0])
        assert got["Device"]["DeviceKey"] == row["device_keys"][0]
        listed = cognito.list_devices(AccessToken=row["access_token"], Limit=10)
        assert sorted(d["DeviceKey"] for d in listed["Devices"]) == row["device_keys"]
        user = admin.run(partial(store.get_user, pool_id=POOL, username=row["username"]))
        assert (user.sub, user.status, user.enabled) == (row["sub"], "CONFIRMED", True)
    names = {
        a["Value"]
        for a in cognito.get_device(
            AccessToken=rows[0]["access_token"], DeviceKey=rows[0]["device_keys"][1]
        )["Device"]["DeviceAttributes"]
        if a["Name"] == "device_name"
    }
    assert names <= {"user-000001-d1", "user-000001-d2"}
    # The refresh token is a real one of the pool's client: RevokeToken takes it.
    record = admin.run(lambda r: store.pool_record(r, POOL))
    client_id = sorted(clients.parse(json.loads(record["clients"])))[0]
    cognito.revoke_token(Token=rows[0]["refresh_token"], ClientId=client_id)
    with pytest.raises(cognito.exceptions.NotAuthorizedException, match="revoked"):
        cognito.get_device(AccessToken=rows[0]["access_token"], DeviceKey=rows[0]["device_keys"][0])


def test_a_rerun_creates_nothing_twice_and_mints_new_tokens(
    live: LiveServer, main: Runner, cognito: Any, tmp_path: Path, admin: Admin
) -> None:
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    main(
        "seed", "--users", "50", "--devices", "1", "--tokens", "--prefix", "lt", "--out", str(first)
    )
    users_before = len(list(admin.redis.scan_iter(match=keys.devices_sets_pattern(POOL, "*"))))
    main(
        "seed",
        "--users",
        "50",
        "--devices",
        "1",
        "--tokens",
        "--prefix",
        "lt",
        "--out",
        str(second),
    )
    a, b = read_jsonl(first), read_jsonl(second)
    assert [(r["username"], r["sub"], r["device_keys"]) for r in a] == [
        (r["username"], r["sub"], r["device_keys"]) for r in b
    ]
    assert all(x["access_token"] != y["access_token"] for x, y in zip(a, b, strict=True))
    assert len(list(admin.redis.scan_iter(match=keys.devices_sets_pattern(POOL, "*")))) == 50
    assert users_before == 50
    for row in (a[0], b[0]):  # old and new tokens both work
        cognito.get_device(AccessToken=row["access_token"], DeviceKey=row["device_keys"][0])
    # Asking for more devices later adds only the missing ones.
    main("seed", "--users", "3", "--devices", "3", "--prefix", "lt", "--out", str(first))
    c = read_jsonl(first)
    assert all(len(r["device_keys"]) == 3 for r in c)
    assert all(set(b[i]["device_keys"]) < set(c[i]["device_keys"]) for i in range(3))
    assert c[0]["access_token"] is None  # no --tokens


def test_seed_csv_in_a_pool_process(
    live: LiveServer, main: Runner, cognito: Any, tmp_path: Path, settings: Settings
) -> None:
    out = tmp_path / "seed.csv"
    # 600 users: two chunks, so two pool processes mint them.
    main("seed", "--users", "600", "--devices", "1", "--tokens", "--workers", "2",
         "--format", "csv", "--ttl", "600", "--out", str(out))  # fmt: skip
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 600 and rows[-1]["username"] == "user-000600"
    for row in (rows[0], rows[599]):
        got = cognito.get_device(AccessToken=row["access_token"], DeviceKey=row["device_keys"])
        assert got["Device"]["DeviceKey"] == row["device_keys"]


def test_seed_as_a_subprocess_is_quiet_off_a_terminal(env: dict[str, str], tmp_path: Path) -> None:
    proc = run_cli(env, "seed", "--users", "3", "--devices", "0", "--prefix", "quiet")
    assert proc.stderr == ""
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["username"] for r in rows] == ["quiet-000001", "quiet-000002", "quiet-000003"]
    assert rows[0]["device_keys"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0"], "--users must be at least 1"),
        (["--users", "2", "--devices", "101"], "--devices must be 0 to 100"),
        (["--users", "2", "--prefix", "a b"], "username 'a b-000001' may hold only"),
        (["--users", "2", "--ttl", "0"], "token lifetime 0 s must be 1 to 86400"),
        (["--users", "2", "--pool-id", "us-east-1_Nope"], "User pool us-east-1_Nope does not"),
    ],
)
def test_seed_refuses_bad_input(main: Runner, args: list[str], message: str) -> None:
    proc = main("seed", *args, ok=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
    assert proc.stdout == ""
