"""amazon-cognito-identity-js, AWS's own SRP client, against the live service in Node: SRP
sign-in, the automatic ConfirmDevice after NewDeviceMetadata, setDeviceStatusRemembered, and a
second sign-in through DEVICE_SRP_AUTH / DEVICE_PASSWORD_VERIFIER.

Needs node and npm, and the npm registry the first time: tests/cognito_js/ is installed with
`npm ci` into a cache keyed by its package-lock.json (as tests/test_browser.py does). Skips,
saying why, when any of it is missing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from jose import jwt

from tests.auth_helpers import PASSWORD, default_client, user_with_password
from tests.conftest import PROJECT, Admin

SOURCES = PROJECT / "tests" / "cognito_js"
NPM_TIMEOUT_S = 300
NPM_CI = ["ci", "--no-audit", "--no-fund", "--loglevel=error", "--fetch-retries=1"]
NPM_CI += ["--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=3000"]


def _install(npm: str) -> Path:
    lock = (SOURCES / "package-lock.json").read_bytes() + (SOURCES / "package.json").read_bytes()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    target = Path(base) / "cgd-cognito-js" / hashlib.sha256(lock).hexdigest()[:16]
    if (target / "node_modules" / ".package-lock.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SOURCES / name, work / name)
        try:
            result = subprocess.run(
                [npm, *NPM_CI], cwd=work, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm ci did not finish within {NPM_TIMEOUT_S} s (no npm registry?)")
        if result.returncode != 0:
            lines = (result.stderr + result.stdout).splitlines()
            said = [x for x in lines if re.sub(r"^npm (error|ERR!)", "", x).strip()]
            pytest.skip(f"npm ci failed (no npm registry?): {' / '.join(said[:2])}")
        try:
            work.rename(target)
        except OSError:
            if not (target / "node_modules" / ".package-lock.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def cognito_js() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node or npm is not installed (run scripts/install-browser-deps as root)")
    return _install(npm)


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
