"""`python -m service ...` as operators and test harnesses run it, against a real Redis.

Every command is run once as a real subprocess (exit status, stdout purity, the environment,
the embedded Redis shared between processes). The remaining variations call the same entry
point, `service.cli.main`, in-process with the same environment: an interpreter start-up costs
about a second on a busy machine, and they would add nothing but time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service import cli, store
from service.redis_io import keys
from service.runtime.settings import ENV_VARS, Settings
from tests.conftest import PROJECT, Admin, LiveServer
from tests.helpers_tokens import assert_cognito_error, get_device, split_token

POOL = "us-east-1_LocalPool"
Result = subprocess.CompletedProcess[str]
Runner = Callable[..., Result]


def clean_env(**values: str) -> dict[str, str]:
    """The process environment without any of the service's settings, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k not in set(ENV_VARS.values())}
    env.update(values)
    return env


def run_cli(env: dict[str, str], *args: str, ok: bool = True) -> Result:
    """`python -m service ARGS` as a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def run_parallel(env: dict[str, str], *argvs: list[str]) -> list[Result]:
    """Independent commands at once, so their interpreter start-ups overlap."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "service", *argv],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    done = []
    for argv, proc in zip(argvs, procs, strict=True):
        out, err = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    return done


@pytest.fixture
def env(settings: Settings, clean_redis: None, tmp_path: Path) -> dict[str, str]:
    return clean_env(REDIS_URL=settings.redis_url, DATA_DIR=str(tmp_path / "data"))


@pytest.fixture
def main(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Runner:
    """`service.cli.main(ARGS)` in this process, with `env` as the environment."""
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    for var in ("REDIS_URL", "DATA_DIR"):
        monkeypatch.setenv(var, env[var])

    def run(*args: str, ok: bool = True) -> Result:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        out = capsys.readouterr()
        if ok:
            assert code == 0, (args, code, out.out, out.err)
        return subprocess.CompletedProcess(list(args), code, out.out, out.err)

    return run


@pytest.fixture
def admin_redis(settings: Settings) -> Iterator[Any]:
    helper = Admin(settings, None)
    yield helper.redis
    helper.redis.close()


def as_json(proc: Result) -> Any:
    return json.loads(proc.stdout)


# -- pools ---------------------------------------------------------------------------------------
def test_pool_create(env: dict[str, str], main: Runner, admin_redis: Any) -> None:
    view = as_json(run_cli(env, "pool", "create", "eu-west-1_CliPool"))
    assert list(view) == [
        "Id",
        "Issuer",
        "ClientIds",
        "DeviceTracking",
        "JwksUrl",
        "DeviceConfiguration",
    ]
    assert view["DeviceConfiguration"] == {
        "ChallengeRequiredOnNewDevice": False,
        "DeviceOnlyRememberedOnUserPrompt": False,
    }
    assert view["Id"] == "eu-west-1_CliPool"
    assert view["Issuer"] == "https://cognito-idp.us-east-1.amazonaws.com/eu-west-1_CliPool"
    assert view["DeviceTracking"] is True
    assert view["JwksUrl"] is None
    assert len(view["ClientIds"]) == 1
    record = admin_redis.hgetall(keys.pool("eu-west-1_CliPool"))
    assert record[b"device_tracking"] == b"1"
    # The generated client is stored with its sign-in flows (store.GENERATED_CLIENT_FLOWS).
    generated = json.loads(record[b"clients"])
    assert [c["id"] for c in generated] == view["ClientIds"]
    assert "ALLOW_USER_PASSWORD_AUTH" in generated[0]["explicit_auth_flows"]
    assert record[b"region"] == b"eu-west-1"

    again = main("pool", "create", "eu-west-1_CliPool", ok=False)
    assert (again.returncode, again.stderr) == (
        1,
        "error: User pool eu-west-1_CliPool already exists.\n",
    )


def test_pool_create_without_device_tracking(main: Runner, admin_redis: Any) -> None:
    view = as_json(
        main(
            "pool",
            "create",
            "us-east-1_NoTrack",
            "--no-device-tracking",
            "--client-id",
            "client_a",
            "--client-id",
            "client_b",
        )
    )
    assert view["DeviceTracking"] is False
    assert view["ClientIds"] == ["client_a", "client_b"]
    assert admin_redis.hget(keys.pool("us-east-1_NoTrack"), "device_tracking") == b"0"


def test_the_default_pool_needs_no_set_up(main: Runner, admin_redis: Any) -> None:
    admin_redis.flushall()
    assert as_json(main("user", "create", "first"))["UserPoolId"] == POOL
    assert admin_redis.exists(keys.pool(POOL))


# -- users ---------------------------------------------------------------------------------------
def test_user_create(env: dict[str, str], admin_redis: Any) -> None:
    created = as_json(run_cli(env, "user", "create", "alice"))
    assert list(created) == ["Username", "Sub", "UserPoolId", "UserStatus", "Enabled"]
    assert created["Username"] == "alice"
    assert str(uuid.UUID(created["Sub"])) == created["Sub"]
    assert (created["UserPoolId"], created["UserStatus"], created["Enabled"]) == (
        POOL,
        "CONFIRMED",
        True,
    )
    gen = admin_redis.hget(keys.pool(POOL), "gen").decode()
    user = admin_redis.hgetall(keys.UserKeys(POOL, gen, "alice").user)
    assert (user[b"username"], user[b"status"], user[b"enabled"]) == (b"alice", b"CONFIRMED", b"1")


def test_user_update_and_delete(
    env: dict[str, str], main: Runner, admin: Admin, admin_redis: Any
) -> None:
    user = admin.create_user("alice")
    user_key = user.keys.user
    updated, deleted = run_parallel(
        env,
        ["user", "update", "alice", "--status", "RESET_REQUIRED", "--disable"],
        ["user", "delete", "bob"],
    )
    assert updated.returncode == 0, updated.stderr
    view = as_json(updated)
    assert (view["Sub"], view["UserStatus"], view["Enabled"]) == (user.sub, "RESET_REQUIRED", False)
    assert admin_redis.hget(user_key, "enabled") == b"0"
    assert (deleted.returncode, deleted.stderr) == (1, "error: User does not exist.\n")

    view = as_json(main("user", "update", "alice", "--enable"))
    assert (view["UserStatus"], view["Enabled"]) == ("RESET_REQUIRED", True)
    view = as_json(main("user", "update", "alice", "--status", "UNCONFIRMED"))
    assert (view["UserStatus"], view["Enabled"]) == ("UNCONFIRMED", True)
    bad = main("user", "update", "alice", "--enable", "--disable", ok=False)
    assert bad.returncode == 2

    gone = run_cli(env, "user", "delete", "alice")
    assert gone.stdout == ""
    assert not admin_redis.exists(user_key)
    assert main("user", "update", "alice", "--enable", ok=False).stderr == (
        "error: User does not exist.\n"
    )


def test_user_create_options(main: Runner, admin: Admin) -> None:
    admin.run(lambda r: store.create_pool(r, admin.settings, "us-east-1_Other"))
    view = as_json(
        main(
            "user",
            "create",
            "bob",
            "--pool-id",
            "us-east-1_Other",
            "--status",
            "UNCONFIRMED",
            "--disabled",
        )
    )
    assert (view["UserPoolId"], view["UserStatus"], view["Enabled"]) == (
        "us-east-1_Other",
        "UNCONFIRMED",
        False,
    )
    duplicate = main("user", "create", "bob", "--pool-id", "us-east-1_Other", ok=False)
    assert (duplicate.returncode, duplicate.stderr) == (1, "error: User account already exists\n")
    archived = as_json(main("user", "create", "carl", "--status", "ARCHIVED"))
    assert archived["UserStatus"] == "ARCHIVED"  # every UserStatusType value may be set
    bad = main("user", "create", "cora", "--status", "BOGUS", ok=False)
    assert bad.returncode == 2
    assert "invalid choice" in bad.stderr
    nowhere = main("user", "create", "carl", "--pool-id", "us-east-1_Nope", ok=False)
    assert (nowhere.returncode, nowhere.stderr) == (
        1,
        "error: User pool us-east-1_Nope does not exist.\n",
    )


def test_user_sign_out_revokes(
    live: LiveServer, env: dict[str, str], admin: Admin, admin_redis: Any
) -> None:
    user, device, token = admin.user_with_device("iris")
    assert get_device(live.url, token, device).status == 200
    before = time.time()
    out = as_json(run_cli(env, "user", "sign-out", "iris"))
    assert list(out) == ["Username", "SignedOutAt"]
    assert out["Username"] == "iris"
    assert before - 1 <= out["SignedOutAt"] <= time.time() + 1
    assert int(admin_redis.hget(user.keys.user, "signed_out_ms")) == round(
        out["SignedOutAt"] * 1000
    )
    assert_cognito_error(
        get_device(live.url, token, device),
        "NotAuthorizedException",
        "Access Token has been revoked",
        400,
    )


# -- devices and tokens, checked against the live server ----------------------------------------
def _user_view(device: dict[str, Any]) -> dict[str, Any]:
    """The admin view `device add` prints, less what only the admin calls show."""
    shown = {"device_status", "device_name", "last_ip_used"}
    attributes = [a for a in device["DeviceAttributes"] if a["Name"] in shown]
    return device | {"DeviceAttributes": attributes}


def test_device_add_prints_the_device_as_the_admin_calls_show_it(
    live: LiveServer, env: dict[str, str], admin: Admin
) -> None:
    admin.create_user("erin")
    printed = as_json(
        run_cli(
            env,
            "device",
            "add",
            "erin",
            "--name",
            "Erin's tablet",
            "--ip",
            "203.0.113.4",
        )
    )
    answer = get_device(live.url, admin.token("erin"), printed["DeviceKey"])
    assert answer.status == 200
    assert _user_view(printed) == answer.json()["Device"]
    attributes = {a["Name"]: a["Value"] for a in printed["DeviceAttributes"]}
    assert attributes["device_name"] == "Erin's tablet"
    assert attributes["last_ip_used"] == "203.0.113.4"
    assert attributes["dev:device_remembered_status"] == "remembered"
    hidden = as_json(run_cli(env, "device", "add", "erin", "--not-remembered"))
    attributes = {a["Name"]: a["Value"] for a in hidden["DeviceAttributes"]}
    assert attributes["dev:device_remembered_status"] == "not_remembered"


def test_device_add_options(live: LiveServer, main: Runner, admin: Admin) -> None:
    admin.create_user("fred")
    key = "us-east-1_0123abcd-0000-4000-8000-000000000001"
    device = as_json(main("device", "add", "fred", "--key", key))
    assert device["DeviceKey"] == key
    assert _user_view(device) == get_device(live.url, admin.token("fred"), key).json()["Device"]
    # No name: no device_name attribute; remembered by default.
    assert [(a["Name"], a["Value"]) for a in device["DeviceAttributes"]] == [
        ("device_status", "valid"),
        (
            "dev:device_arn",
            f"arn:aws:cognito-idp:us-east-1:000000000000:owner/fred.{POOL}/device/{key}",
        ),
        ("dev:device_owner", f"fred.{POOL}"),
        ("last_ip_used", "127.0.0.1"),
        ("dev:device_remembered_status", "remembered"),
        ("dev:device_sdk", "aws-sdk"),
    ]
    bad = main("device", "add", "fred", "--key", "not a key", ok=False)
    assert (bad.returncode, bad.stderr) == (
        1,
        "error: device key 'not a key' must match [\\w-]+_[0-9a-f-]+ "
        "(for example us-east-1_07032954-25bf-4781-b596-9d675d901072)\n",
    )
    nobody = main("device", "add", "nobody", ok=False)
    assert (nobody.returncode, nobody.stderr) == (1, "error: User does not exist.\n")


def test_token_prints_only_the_token(live: LiveServer, env: dict[str, str], admin: Admin) -> None:
    user = admin.create_user("gina")
    device = admin.add_device(user)
    proc = run_cli(env, "token", "gina", "--device-key", device)
    # Only the token on stdout, so that TOKEN=$(python -m service token gina) works.
    assert proc.stderr == ""
    assert proc.stdout.endswith("\n")
    assert proc.stdout.count("\n") == 1
    token = proc.stdout[:-1]
    assert token.count(".") == 2
    header, payload = split_token(token)
    assert list(header) == ["kid", "alg"]
    assert header["alg"] == "RS256"
    assert (payload["username"], payload["sub"]) == ("gina", user.sub)
    assert payload["device_key"] == device
    assert payload["exp"] - payload["iat"] == 3600
    assert get_device(live.url, token, device).status == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "openid", "--scope", "email"], "Access Token does not have required scopes"),
        (["--client-id", "someone_else"], "Invalid Access Token"),
    ],
)
def test_token_options(
    live: LiveServer, main: Runner, admin: Admin, args: list[str], message: str
) -> None:
    device = admin.add_device(admin.create_user("hank"))
    token = main("token", "hank", *args).stdout.strip()
    assert_cognito_error(
        get_device(live.url, token, device), "NotAuthorizedException", message, 400
    )


def test_token_ttl(live: LiveServer, main: Runner, admin: Admin) -> None:
    device = admin.add_device(admin.create_user("hal"))
    payload = split_token(main("token", "hal", "--ttl", "60").stdout.strip())[1]
    assert payload["exp"] - payload["iat"] == 60
    short = main("token", "hal", "--ttl", "1").stdout.strip()
    time.sleep(2.05)  # exp is in whole seconds: past it for certain
    expired = get_device(live.url, short, device)
    assert_cognito_error(expired, "NotAuthorizedException", "Access Token has expired", 400)
    for bad in ("0", "-5", "86401"):
        refused = main("token", "hal", "--ttl", bad, ok=False)
        assert (refused.returncode, refused.stderr) == (
            1,
            f"error: token lifetime {bad} s must be 1 to 86400 seconds\n",
        )
    assert main("token", "nobody", ok=False).stderr == "error: User does not exist.\n"


# -- admin-credentials ----------------------------------------------------------------------------
def test_admin_credentials_prints_the_pair_serve_uses(
    main: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = main("admin-credentials").stdout.splitlines()
    exports = dict(item.split("=", 1) for item in lines[0].split()[1:])
    assert lines[1] == "export AWS_DEFAULT_REGION=us-east-1"
    key_id, secret = exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"]
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", key_id) and len(secret) == 40
    # The same pair again (kept in Redis), and as JSON.
    assert json.loads(main("admin-credentials", "--format", "json").stdout) == {
        "Credentials": [{"AccessKeyId": key_id, "SecretAccessKey": secret}],
        "Region": "us-east-1",
    }
    # ADMIN_CREDENTIALS set: those, every pair in JSON, the first in env lines.
    monkeypatch.setenv("ADMIN_CREDENTIALS", "KEYB:sb,KEYA:sa")
    assert main("admin-credentials").stdout.splitlines()[0] == (
        "export AWS_ACCESS_KEY_ID=KEYA AWS_SECRET_ACCESS_KEY=sa"
    )
    listed = json.loads(main("admin-credentials", "--format", "json").stdout)["Credentials"]
    assert [c["AccessKeyId"] for c in listed] == ["KEYA", "KEYB"]


# -- help ------------------------------------------------------------------------------------------
COMMANDS = [
    ["serve"],
    ["pool", "create"],
    ["pool", "show"],
    ["pool", "update"],
    ["pool", "delete"],
    ["user", "create"],
    ["user", "update"],
    ["user", "delete"],
    ["user", "sign-out"],
    ["revoke-token"],
    ["device", "add"],
    ["token"],
    ["redis", "url"],
    ["redis", "stop"],
    ["admin-credentials"],
]


def test_help_as_a_subprocess() -> None:
    proc = run_cli(clean_env(), "--help")
    assert proc.stdout.startswith("usage: python -m service")
    for command in ("serve", "pool", "user", "device", "token", "redis"):
        assert command in proc.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_help_on_each_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m service {' '.join(command)}")
    assert "--help" in out


def test_a_bad_setting_is_named(main: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER_BURST", "lots")
    proc = main("redis", "url", ok=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: USER_BURST='lots' is invalid")


# -- the embedded Redis ----------------------------------------------------------------------------
def _alive(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(str(sock))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def _wait_down(sock: Path, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(sock):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def embedded_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    data = tmp_path / "d"
    yield clean_env(DATA_DIR=str(data))
    # Never leave a daemonized redis-server behind, whatever the test did.
    pidfile = data / "redis.pid"
    if _alive(data / "redis.sock") and pidfile.exists():
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        _wait_down(data / "redis.sock")


def test_embedded_redis_is_started_once_and_shared(embedded_env: dict[str, str]) -> None:
    data = Path(embedded_env["DATA_DIR"])
    sock = data / "redis.sock"
    assert not sock.exists()

    created = as_json(run_cli(embedded_env, "user", "create", "jane"))
    assert _alive(sock)
    pid = (data / "redis.pid").read_text().strip()

    # Later commands find the same server (same pid) and the user in it.
    minted, url = run_parallel(embedded_env, ["token", "jane"], ["redis", "url"])
    assert split_token(minted.stdout.strip())[1]["sub"] == created["Sub"]
    assert url.stdout == f"unix://{sock.resolve()}\n"
    assert (data / "redis.pid").read_text().strip() == pid

    # Stop it; the next command starts it again, and the data persisted.
    assert run_cli(embedded_env, "redis", "stop").stdout == "stopped\n"
    assert _wait_down(sock)
    again = run_cli(embedded_env, "user", "create", "jane", ok=False)
    assert (again.returncode, again.stderr) == (1, "error: User account already exists\n")
    assert _alive(sock)


def test_redis_stop_when_nothing_runs(
    tmp_path: Path, main: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "empty"))
    assert main("redis", "stop").stdout == "not running\n"


def test_with_redis_url_set_nothing_is_started(env: dict[str, str], main: Runner) -> None:
    main("user", "create", "kim")
    assert main("redis", "url").stdout == env["REDIS_URL"] + "\n"
    assert not (Path(env["DATA_DIR"]) / "redis.sock").exists()


# -- passwords (sign-in) ---------------------------------------------------------------------------
def test_user_passwords(main: Runner, admin: Admin, cognito: Any) -> None:
    from tests.auth_helpers import default_client

    view = as_json(main("user", "create", "pat", "--password", "Pat-passw0rd!"))
    assert view["UserStatus"] == "CONFIRMED"
    raw = admin.redis.hgetall(
        admin.settings.default_pool_id
        and store.User(
            admin.settings.default_pool_id,
            view
            and admin.redis.hget(
                f"cgd:{{pools}}:pool:{admin.settings.default_pool_id}", "gen"
            ).decode(),
            "pat",
            "",
            "",
            True,
        ).keys.user
    )
    assert b"srp_verifier" in raw and b"Pat-passw0rd!" not in b"".join(raw.values())
    client_id = default_client(admin)
    cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": "pat", "PASSWORD": "Pat-passw0rd!"},
    )
    temp = as_json(main("user", "set-password", "pat", "Temp-passw0rd!", "--temporary"))
    assert temp["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    weak = main("user", "set-password", "pat", "weak", ok=False)
    assert (weak.returncode, weak.stderr) == (
        1,
        "error: Password does not conform to policy: Password not long enough\n",
    )
