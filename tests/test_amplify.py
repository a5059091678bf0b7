"""AWS Amplify JS v6 (npm aws-amplify), the library most web apps sign in with, against the live
service in Node: SRP and password sign-in, the new device Amplify confirms and remembers, the
DEVICE_SRP_AUTH sign-in of a remembered device, the refresh Amplify makes by itself once the
access token has expired, and a global sign-out followed at once by a sign-in that stores a
device.

tests/amplify/journey.cjs drives Amplify's public API and reports what it saw (decoded claims,
the operations on the wire, never a token); these tests check that against the service's own
records through the admin plane. tests/amplify/ is installed with `npm ci` from its
package-lock.json into ~/.cache/cgd-amplify (tests/npm_cache.py). Skips, saying why, when node,
npm or the npm registry is missing, except with CI=true, where it fails instead
(scripts/test installs node and npm there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import npm_cache
from tests.conftest import PROJECT, LiveServer
from tests.noskip import unavailable

SOURCES = PROJECT / "tests" / "amplify"
NODE_TIMEOUT_S = 60
USERNAME = "alice"
PASSWORD = "Corr3ct-Horse!"
# What journey.cjs stubs navigator.userAgent with: Amplify names new devices after it.
DEVICE_NAME = "cgd-amplify-test"
SRP = ["InitiateAuth", "RespondToAuthChallenge"]  # USER_SRP_AUTH, then PASSWORD_VERIFIER
DEVICE_SRP = [*SRP, "RespondToAuthChallenge", "RespondToAuthChallenge"]


@pytest.fixture(scope="session")
def amplify() -> tuple[str, Path]:
    """(node, the node_modules holding aws-amplify)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node or npm is not installed (run scripts/install-browser-deps as root)")
    assert node is not None and npm is not None
    return node, npm_cache.install(SOURCES, "cgd-amplify", npm) / "node_modules"


@pytest.fixture
def pool(cognito: Any) -> dict[str, str]:
    """A pool that tracks devices (a new device is challenged, and remembered only when the
    user says so) with one user, and a public client allowing SRP, password and refresh, whose
    access tokens live the shortest time Cognito allows (5 minutes)."""
    pool_id = cognito.create_user_pool(
        PoolName="amplify",
        DeviceConfiguration={
            "ChallengeRequiredOnNewDevice": True,
            "DeviceOnlyRememberedOnUserPrompt": True,
        },
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="web",
        ExplicitAuthFlows=[
            "ALLOW_USER_SRP_AUTH",
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
        ],
        AccessTokenValidity=5,
        TokenValidityUnits={"AccessToken": "minutes"},
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(UserPoolId=pool_id, Username=USERNAME, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=USERNAME, Password=PASSWORD, Permanent=True
    )
    return {"poolId": pool_id, "clientId": client_id}


def journey(
    amplify: tuple[str, Path], live: LiveServer, pool: dict[str, str], name: str
) -> dict[str, dict[str, Any]]:
    """Run one journey of journey.cjs; its steps by name."""
    node, modules = amplify
    given = {**pool, "endpoint": live.url, "username": USERNAME, "password": PASSWORD}
    result = subprocess.run(
        [node, str(SOURCES / "journey.cjs")],
        input=orjson.dumps({**given, "journey": name}).decode(),
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "NODE_PATH": str(modules)},
        timeout=NODE_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    return {s["step"]: s for s in orjson.loads(result.stdout)["steps"]}


def ops(step: dict[str, Any]) -> list[str]:
    """The operations a step sent, each answered 200 (the wire log says what was refused)."""
    for call in step["wire"]:
        assert call["status"] == 200, f"{step['step']}: {call['op']} {call.get('error')}"
    assert "error" not in step, (step["step"], step["error"])
    return [call["op"] for call in step["wire"]]


def signed_in(step: dict[str, Any]) -> dict[str, Any]:
    """A finished sign-in's access token claims."""
    assert (step["isSignedIn"], step["nextStep"], step["signedIn"]) == (True, "DONE", True), step
    access = step["access"]
    assert access["token_use"] == "access" and step["id"]["token_use"] == "id"
    return dict(access)


def admin_devices(cognito: Any, pool: dict[str, str]) -> dict[str, dict[str, str]]:
    """The user's devices as the admin plane lists them: key -> attributes."""
    listed = cognito.admin_list_devices(UserPoolId=pool["poolId"], Username=USERNAME)["Devices"]
    return {d["DeviceKey"]: {a["Name"]: a["Value"] for a in d["DeviceAttributes"]} for d in listed}


def test_srp_sign_in_remembered_device_and_refresh_after_expiry(
    amplify: tuple[str, Path], live: LiveServer, pool: dict[str, str], cognito: Any
) -> None:
    steps = journey(amplify, live, pool, "srp")

    # 1. SRP sign-in: Amplify confirms the new device the answer carries, and keeps its key.
    first = steps["srp sign-in"]
    assert ops(first) == [*SRP, "ConfirmDevice"]
    assert first["wire"][0]["authFlow"] == "USER_SRP_AUTH"
    assert first["wire"][1]["challenge"] == "PASSWORD_VERIFIER"
    device = first["wire"][1]["newDeviceKey"]
    assert first["storedDeviceKey"] == device
    assert signed_in(first)["device_key"] == device
    assert first["wire"][2]["deviceKey"] == device
    # The pool remembers devices only when the user says so: not yet.
    assert first["wire"][2]["confirmationNecessary"] is True

    # rememberDevice, then fetchDevices lists it, remembered (here and in the service).
    remembered = steps["remember device"]
    assert ops(remembered) == ["UpdateDeviceStatus", "ListDevices"]
    assert remembered["wire"][0]["deviceKey"] == device
    assert [(d["id"], d["name"]) for d in remembered["devices"]] == [(device, DEVICE_NAME)]
    stored = admin_devices(cognito, pool)
    assert stored[device]["device_name"] == DEVICE_NAME
    assert stored[device]["dev:device_remembered_status"] == "remembered"

    # 2. Local sign-out revokes the refresh token; the next SRP sign-in presents the device and
    # proves it through DEVICE_SRP_AUTH and DEVICE_PASSWORD_VERIFIER: no new device.
    out = steps["local sign-out"]
    assert ops(out) == ["RevokeToken"] and out["signedIn"] is False
    again = steps["srp sign-in with device"]
    assert ops(again) == DEVICE_SRP
    challenges = [(c.get("challenge"), c.get("nextChallenge")) for c in again["wire"]]
    assert challenges == [
        (None, "PASSWORD_VERIFIER"),
        ("PASSWORD_VERIFIER", "DEVICE_SRP_AUTH"),
        ("DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER"),
        ("DEVICE_PASSWORD_VERIFIER", None),
    ]
    # Amplify presents its device key from PASSWORD_VERIFIER on.
    assert [c.get("deviceKey") for c in again["wire"]] == [None, device, device, device]
    assert not any("newDeviceKey" in c for c in again["wire"])
    access = signed_in(again)
    assert access["device_key"] == device
    assert list(admin_devices(cognito, pool)) == [device]

    # 4. The access token expires (Amplify's clock moves past it): fetchDevices refreshes by
    # itself with GetTokensFromRefreshToken, then lists the devices with the new token.
    assert ops(steps["session before expiry"]) == []
    assert steps["session before expiry"]["access"] == access
    expired = steps["access token expires"]
    assert ops(expired) == ["GetTokensFromRefreshToken", "ListDevices"], expired["wire"]
    assert expired["wire"][0]["deviceKey"] == device
    assert [d["id"] for d in expired["devices"]] == [device]
    refreshed = expired["access"]
    assert refreshed["jti"] != access["jti"] and refreshed["iat"] >= access["iat"]
    assert (refreshed["origin_jti"], refreshed["device_key"]) == (access["origin_jti"], device)
    assert refreshed["sub"] == access["sub"]


def test_password_sign_in(
    amplify: tuple[str, Path], live: LiveServer, pool: dict[str, str], cognito: Any
) -> None:
    # 3. USER_PASSWORD_AUTH: tokens in one round trip, and the new device confirmed.
    steps = journey(amplify, live, pool, "password")
    first = steps["password sign-in"]
    assert ops(first) == ["InitiateAuth", "ConfirmDevice"]
    assert first["wire"][0]["authFlow"] == "USER_PASSWORD_AUTH"
    device = first["wire"][0]["newDeviceKey"]
    assert signed_in(first)["device_key"] == device
    assert first["storedDeviceKey"] == device
    assert first["wire"][1]["confirmationNecessary"] is True
    # ListDevices shows only remembered devices: none until rememberDevice.
    listed = steps["fetch devices"]
    assert ops(listed) == ["ListDevices"] and listed["devices"] == []
    remembered = steps["remember device"]
    assert ops(remembered) == ["UpdateDeviceStatus", "ListDevices"]
    assert [(d["id"], d["name"]) for d in remembered["devices"]] == [(device, DEVICE_NAME)]
    stored = admin_devices(cognito, pool)
    assert stored[device]["dev:device_remembered_status"] == "remembered"


def test_global_sign_out_then_at_once_a_sign_in_that_stores_a_device(
    amplify: tuple[str, Path], live: LiveServer, pool: dict[str, str], cognito: Any
) -> None:
    steps = journey(amplify, live, pool, "global")
    first = steps["srp sign-in"]
    old = first["wire"][1]["newDeviceKey"]
    before = signed_in(first)
    assert ops(steps["remember device"]) == ["UpdateDeviceStatus", "ListDevices"]

    out = steps["global sign-out"]
    assert ops(out) == ["GlobalSignOut"] and out["signedIn"] is False

    # 5. At once, from a second (empty) storage: a sign-in whose tokens the service accepts,
    # so Amplify's ConfirmDevice stores the new device, and rememberDevice / fetchDevices work.
    fresh = steps["new browser sign-in"]
    signed_out_ms, issued_ms = out["wire"][0]["doneMs"], fresh["wire"][0]["doneMs"]
    new = fresh["wire"][0].get("newDeviceKey")
    assert fresh["wire"][0]["authFlow"] == "USER_PASSWORD_AUTH"
    assert ops(fresh) == ["InitiateAuth", "ConfirmDevice"], fresh["wire"]
    access = signed_in(fresh)
    assert new and new != old and access["device_key"] == new
    assert access["origin_jti"] != before["origin_jti"]
    assert fresh["storedDeviceKey"] == new
    remembered = steps["new browser remembers"]
    assert ops(remembered) == ["UpdateDeviceStatus", "ListDevices"], remembered["wire"]
    assert {d["id"] for d in remembered["devices"]} == {old, new}
    stored = admin_devices(cognito, pool)
    assert stored[new]["dev:device_remembered_status"] == "remembered"
    assert stored[new]["device_name"] == DEVICE_NAME

    # The first storage still holds its remembered device: it signs in through DEVICE_SRP_AUTH.
    back = steps["first browser sign-in with device"]
    assert ops(back) == DEVICE_SRP
    assert signed_in(back)["device_key"] == old
    final = steps["first browser devices"]
    assert ops(final) == ["ListDevices"] and {d["id"] for d in final["devices"]} == {old, new}
    same_second = signed_out_ms // 1000 == issued_ms // 1000
    print(f"amplify: tokens {issued_ms - signed_out_ms} ms after the global sign-out", end="")
    print(" (same second)" if same_second else "")
