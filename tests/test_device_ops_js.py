"""The device and sign-out operations through the AWS SDK for JavaScript v3 in Node:
ListDevices, UpdateDeviceStatus, ForgetDevice, ConfirmDevice, GlobalSignOut and RevokeToken,
each once successfully and once refused, against the live server.

tests/js/ is installed with `npm ci` into a cache keyed by its package-lock.json
(~/.cache/cgd-node), as tests/test_browser.py installs tests/browser/; the script runs with
NODE_PATH pointing there. Skips, saying why, when node, npm or the npm registry is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from service import store
from service.model import clients
from tests import npm_cache
from tests.conftest import PROJECT, Admin, LiveServer
from tests.noskip import unavailable

SOURCES = PROJECT / "tests" / "js"
SCRIPT = SOURCES / "device_ops.cjs"
NODE_TIMEOUT_S = 60
POOL = "us-east-1_LocalPool"
REVOKED = "Access Token has been revoked"


@pytest.fixture(scope="session")
def node_sdk() -> tuple[str, Path]:
    """(node, the node_modules holding the SDK)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node or npm is not installed (run scripts/install-browser-deps as root)")
    return node, npm_cache.install(SOURCES, "cgd-node", npm) / "node_modules"


def run_steps(node_sdk: tuple[str, Path], endpoint: str, steps: list[dict[str, Any]]) -> Any:
    node, modules = node_sdk
    env = {"PATH": os.environ.get("PATH", ""), "NODE_PATH": str(modules)}
    result = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps({"endpoint": endpoint, "steps": steps}),
        capture_output=True,
        text=True,
        env=env,
        timeout=NODE_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ok(output: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "output": output, "httpStatusCode": 200}


def error(name: str, message: str) -> dict[str, Any]:
    return {"ok": False, "name": name, "message": message, "fault": "client", "httpStatusCode": 400}


def test_js_sdk_device_and_sign_out_operations(
    node_sdk: tuple[str, Path], live: LiveServer, admin: Admin
) -> None:
    user = admin.create_user("alice")
    kept = admin.run(lambda r: store.add_device(r, user, name="kept", ip="192.0.2.9"))
    gone = admin.add_device(user)
    fresh = admin.add_device(user, confirmed=False)
    token = admin.token("alice", origin_jti="js-1")
    other = admin.token("alice", origin_jti="js-2")
    client_id = pool_clients(admin)[0]
    refresh_token = admin.run(
        lambda r: store.mint_refresh(r, POOL, user, client_id=client_id, origin_jti="js-1")
    )
    unknown = "us-east-1_00000000-0000-4000-8000-000000000000"
    T = {"AccessToken": token}
    steps: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
        ("ListDevices", {**T, "Limit": 61}, error(
            "InvalidParameterException",
            "1 validation error detected: Value '61' at 'limit' failed to satisfy constraint: "
            "Member must have value less than or equal to 60",
        )),
        ("UpdateDeviceStatus", {**T, "DeviceKey": gone, "DeviceRememberedStatus": "not_remembered"},
         ok({})),
        ("UpdateDeviceStatus", {**T, "DeviceKey": unknown, "DeviceRememberedStatus": "remembered"},
         error("ResourceNotFoundException", "Device does not exist.")),
        ("ListDevices", {**T, "Limit": 5}, None),  # checked below
        ("ForgetDevice", {**T, "DeviceKey": gone}, ok({})),
        ("ForgetDevice", {**T, "DeviceKey": gone},
         error("ResourceNotFoundException", "Device does not exist.")),
        ("ConfirmDevice", {**T, "DeviceKey": fresh, "DeviceName": "js",
                           "DeviceSecretVerifierConfig": {"PasswordVerifier": "pv", "Salt": "sa"}},
         ok({"UserConfirmationNecessary": False})),
        ("ConfirmDevice", {**T, "DeviceKey": fresh},
         error("DeviceKeyExistsException", "Device key already exists.")),
        ("RevokeToken", {"Token": token, "ClientId": client_id},
         error("UnsupportedTokenTypeException", "Unsupported token type.")),
        ("RevokeToken", {"Token": refresh_token, "ClientId": client_id}, ok({})),
        ("ListDevices", T, error("NotAuthorizedException", REVOKED)),
        ("GlobalSignOut", {"AccessToken": other}, ok({})),
        ("GlobalSignOut", {"AccessToken": other}, error("NotAuthorizedException", REVOKED)),
    ]  # fmt: skip
    outcomes = run_steps(node_sdk, live.url, [{"command": c, "input": i} for c, i, _ in steps])
    assert len(outcomes) == len(steps)
    for (command, _, want), got in zip(steps, outcomes, strict=True):
        if want is not None:
            assert got == want, command

    listed = outcomes[3]
    assert listed["ok"] is True, listed
    assert [d["DeviceKey"] for d in listed["output"]["Devices"]] == [kept["key"]]
    assert "PaginationToken" not in listed["output"]
    assert listed["output"]["Devices"][0]["DeviceAttributes"] == [
        {"Name": "device_status", "Value": "valid"},
        {"Name": "device_name", "Value": "kept"},
        {"Name": "last_ip_used", "Value": "192.0.2.9"},
    ]
    # The SDK parsed the dates (epoch seconds on the wire) into Dates, serialised as ISO text.
    created = listed["output"]["Devices"][0]["DeviceCreateDate"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created), created
    stored = admin.redis.hgetall(user.keys.device(fresh))
    assert (stored[b"verifier"], stored[b"salt"], stored[b"name"]) == (b"pv", b"sa", b"js")
    assert not admin.redis.exists(user.keys.device(gone))


def pool_clients(admin: Admin) -> list[str]:
    """The default pool's app client ids, sorted."""
    record = admin.run(lambda r: store.pool_record(r, POOL))
    return sorted(clients.parse(json.loads(record["clients"])))
