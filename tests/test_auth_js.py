"""amazon-cognito-identity-js, AWS's own SRP client, against the live service in Node: SRP
sign-in, the automatic ConfirmDevice after NewDeviceMetadata, setDeviceStatusRemembered, and a
second sign-in through DEVICE_SRP_AUTH / DEVICE_PASSWORD_VERIFIER.

Needs node and npm, and the npm registry the first time: tests/cognito_js/ is installed with
`npm ci` into a cache keyed by its package-lock.json (as tests/test_browser.py does). Skips,
saying why, when any of it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from jose import jwt

from tests import npm_cache
from tests.auth_helpers import PASSWORD, default_client, user_with_password
from tests.conftest import PROJECT, Admin
from tests.noskip import unavailable

SOURCES = PROJECT / "tests" / "cognito_js"


@pytest.fixture(scope="session")
def cognito_js() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node or npm is not installed (run scripts/install-browser-deps as root)")
    return npm_cache.install(SOURCES, "cgd-cognito-js", npm)


def test_srp_device_flow_with_amazon_cognito_identity_js(
    cognito_js: Path, live: Any, admin: Admin, cognito: Any
) -> None:
    user_with_password(admin)
    client_id = default_client(admin)
    pool = admin.settings.default_pool_id
    result = subprocess.run(
        ["node", str(SOURCES / "device_flow.js"), live.url + "/", pool, client_id, "alice",
         PASSWORD],
        cwd=cognito_js,
        env={**os.environ, "NODE_PATH": str(cognito_js / "node_modules")},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = orjson.loads(result.stdout.strip().splitlines()[-1])
    device_key = out["firstDeviceKey"]
    assert device_key and out["secondDeviceKey"] == device_key
    second = jwt.get_unverified_claims(out["secondAccess"])
    assert second["device_key"] == device_key
    assert out["wrong"] == "NotAuthorizedException: Incorrect username or password."
    # The device was confirmed and remembered by the library: the user sees it.
    devices = cognito.list_devices(AccessToken=out["secondAccess"])["Devices"]
    assert [d["DeviceKey"] for d in devices] == [device_key]
    got = cognito.get_device(AccessToken=out["secondAccess"], DeviceKey=device_key)["Device"]
    assert {"Name": "device_status", "Value": "valid"} in got["DeviceAttributes"]
    ip = {a["Name"]: a["Value"] for a in got["DeviceAttributes"]}["last_ip_used"]
    assert ip == "127.0.0.1"
