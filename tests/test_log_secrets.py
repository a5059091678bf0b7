"""A whole life of `python -m service serve` as operators run it (not a terminal, DEMO off,
ACCESS_LOG on, LOG_LEVEL=DEBUG, a Redis with `requirepass`): start, admin calls over SigV4,
sign-ins of every kind, refused calls, a Redis outage and its end. Then everything the process
wrote, stdout and stderr, is read back: no secret the run used may be in it, every line is one
JSON object, and the lines say what an operator needs (who called, how long it took, the
caller's request id, one Redis failure line a second rather than one a request)."""

from __future__ import annotations

import http.client
import os
import pty
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import orjson
import pytest
from botocore.exceptions import ClientError

from service.runtime.settings import ENV_VARS
from tests.auth_helpers import ALL_FLOWS
from tests.conftest import PROJECT, RedisServer, free_port

LIST_DEVICES = "AWSCognitoIdentityProviderService.ListDevices"
NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1})
OUTAGE_CALLS = 40


class _PasswordRedis(RedisServer):
    """A redis-server with `requirepass`, keeping its data across a stop and start (AOF)."""

    def __init__(self, password: str) -> None:
        self.password = password
        super().__init__(None, "--requirepass", password, "--appendonly", "yes")

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in set(ENV_VARS.values())}
    return {**env, **values}


def _post(port: int, target: str, body: dict[str, Any], **headers: str) -> tuple[int, Any, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(
            "POST",
            "/",
            orjson.dumps(body),
            {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1", **headers},
        )
        resp = conn.getresponse()
        return resp.status, resp.headers, orjson.loads(resp.read())
    finally:
        conn.close()


def _wait_ready(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.05)
    raise AssertionError("service did not become ready")


@dataclass
class Run:
    """What the run used and what the process wrote."""

    secrets: dict[str, str] = field(default_factory=dict)
    output: str = ""
    port: int = 0
    outage_answers: list[str] = field(default_factory=list)

    def keep(self, name: str, value: str) -> None:
        self.secrets[name] = value

    def keep_token(self, name: str, token: str) -> None:
        """A JWT's payload and signature each (a log that cut one out would still leak it)."""
        parts = token.split(".")
        if len(parts) == 3:
            self.keep(f"{name} payload", parts[1])
            self.keep(f"{name} signature", parts[2])
        else:
            self.keep(name, token)

    def keep_result(self, name: str, result: dict[str, str]) -> None:
        self.keep_token(f"{name} access token", result["AccessToken"])
        self.keep_token(f"{name} id token", result["IdToken"])
        if "RefreshToken" in result:
            self.keep_token(f"{name} refresh token", result["RefreshToken"])

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines]


def _life(run: Run, redis_server: _PasswordRedis, port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    fetched = subprocess.run(
        [sys.executable, "-m", "service", "admin-credentials", "--format", "json"],
        cwd=PROJECT,
        env=_env(REDIS_URL=redis_server.url),
        capture_output=True,
        timeout=30,
        check=True,
    )
    (pair,) = orjson.loads(fetched.stdout)["Credentials"]
    run.keep("admin secret", pair["SecretAccessKey"])
    admin = boto3.client(
        "cognito-idp",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=pair["AccessKeyId"],
        aws_secret_access_key=pair["SecretAccessKey"],
        config=NO_RETRY,
    )
    public = boto3.client(
        "cognito-idp",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=NO_RETRY,
    )
    devices = {"ChallengeRequiredOnNewDevice": False, "DeviceOnlyRememberedOnUserPrompt": False}
    pool_id = admin.create_user_pool(PoolName="logs", DeviceConfiguration=devices)["UserPool"]["Id"]
    client_id = admin.create_user_pool_client(
        UserPoolId=pool_id, ClientName="app", ExplicitAuthFlows=ALL_FLOWS
    )["UserPoolClient"]["ClientId"]
    temporary, permanent = "Tmp-" + secrets.token_hex(8), "Perm-" + secrets.token_hex(8)
    run.keep("temporary password", temporary)
    run.keep("password", permanent)
    admin.admin_create_user(UserPoolId=pool_id, Username="alice", TemporaryPassword=temporary)
    time.sleep(0.3)  # the workers see the new pool (POOL_REFRESH_S)

    # Sign-in with the temporary password, the new one, a refresh, and SRP.
    params = {"USERNAME": "alice", "PASSWORD": temporary}
    first = public.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH", ClientId=client_id, AuthParameters=params
    )
    run.keep("NEW_PASSWORD_REQUIRED session", first["Session"])
    done = public.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=first["Session"],
        ChallengeResponses={"USERNAME": "alice", "NEW_PASSWORD": permanent},
    )["AuthenticationResult"]
    run.keep_result("first sign-in", done)
    signed = public.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": "alice", "PASSWORD": permanent},
    )["AuthenticationResult"]
    run.keep_result("sign-in", signed)
    refreshed = public.initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH",
        ClientId=client_id,
        AuthParameters={"REFRESH_TOKEN": signed["RefreshToken"]},
    )["AuthenticationResult"]
    run.keep_result("refresh", refreshed)
    from pycognito.aws_srp import AWSSRP

    srp = AWSSRP("alice", permanent, pool_id, client_id, client=public)
    srp_params = srp.get_auth_params()
    run.keep("SRP_A", srp_params["SRP_A"])
    challenge = public.initiate_auth(
        AuthFlow="USER_SRP_AUTH", ClientId=client_id, AuthParameters=srp_params
    )
    run.keep("SRP secret block", challenge["ChallengeParameters"]["SECRET_BLOCK"])
    answers = srp.process_challenge(challenge["ChallengeParameters"], srp_params)
    run.keep("SRP claim signature", answers["PASSWORD_CLAIM_SIGNATURE"])
    srp_done = public.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=answers
    )["AuthenticationResult"]
    run.keep_result("SRP sign-in", srp_done)
    public.list_devices(AccessToken=srp_done["AccessToken"])
    admin.admin_get_user(UserPoolId=pool_id, Username="alice")

    # Refused calls: a wrong password, a tampered token, a wrong admin secret, no signature.
    wrong = "Wrong-" + secrets.token_hex(8)
    run.keep("wrong password", wrong)
    with pytest.raises(ClientError):
        public.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=client_id,
            AuthParameters={"USERNAME": "alice", "PASSWORD": wrong},
        )
    tampered = signed["AccessToken"][:-6] + "AAAAAA"
    with pytest.raises(ClientError):
        public.list_devices(AccessToken=tampered)
    wrong_secret = secrets.token_hex(20)
    run.keep("wrong admin secret", wrong_secret)
    forger = boto3.client(
        "cognito-idp",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=pair["AccessKeyId"],
        aws_secret_access_key=wrong_secret,
        config=NO_RETRY,
    )
    with pytest.raises(ClientError):
        forger.admin_get_user(UserPoolId=pool_id, Username="alice")
    with pytest.raises(ClientError):
        public.admin_get_user(UserPoolId=pool_id, Username="alice")
    # Behind a trusted proxy (TRUSTED_PROXIES=127.0.0.1/32), with the proxy's request id.
    status, headers, _ = _post(
        port,
        LIST_DEVICES,
        {"AccessToken": refreshed["AccessToken"]},
        **{"X-Forwarded-For": "203.0.113.7", "X-Request-Id": "edge-4711"},
    )
    assert status == 200 and headers["X-Request-Id"] == "edge-4711"

    # A Redis outage: every call fails, then Redis comes back and so does the service.
    redis_server.stop()
    try:
        for _ in range(OUTAGE_CALLS):
            _, _, body = _post(port, LIST_DEVICES, {"AccessToken": srp_done["AccessToken"]})
            run.outage_answers.append(body.get("__type", "OK"))
            time.sleep(0.04)  # about 2 s in all: the second line counts the first's followers
    finally:
        redis_server.start()
    deadline = time.monotonic() + 20
    while True:
        status, _, body = _post(port, LIST_DEVICES, {"AccessToken": srp_done["AccessToken"]})
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200, body


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    password = secrets.token_hex(16)
    redis_server = _PasswordRedis(password)
    redis_server.start()
    result = Run(port=free_port())
    result.keep("REDIS_URL password", password)
    out_path = Path(tempfile.mkdtemp(prefix="cgd-logs-")) / "serve.out"
    env = _env(
        REDIS_URL=redis_server.url,
        DATA_DIR=str(out_path.parent),
        DEMO="false",
        ACCESS_LOG="true",
        LOG_LEVEL="DEBUG",
        TRUSTED_PROXIES="127.0.0.1/32",
        REDIS_TIMEOUT_S="0.3",
        POOL_REFRESH_S="0.05",
    )
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(result.port)],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(result.port)
        _life(result, redis_server, result.port)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            redis_server.stop()
    result.output = out_path.read_text(errors="replace")
    yield result


def test_no_secret_the_run_used_is_in_its_output(run: Run) -> None:
    assert run.lines, "the run wrote nothing"
    leaked = sorted(name for name, value in run.secrets.items() if value in run.output)
    assert not leaked, leaked


def test_every_line_is_one_json_object(run: Run) -> None:
    for line in run.lines:
        record = orjson.loads(line)
        assert isinstance(record, dict) and {"ts", "level", "logger", "msg"} <= record.keys()
    serving = [r for r in run.records() if r["msg"].startswith("serving Cognito GetDevice")]
    assert serving and serving[0]["endpoint"] == f"http://127.0.0.1:{run.port}"
    # The admin pair serve made is named by its key id, and where to get its secret.
    (made,) = [r for r in run.records() if "admin-credentials" in r["msg"]]
    assert made["access_key_id"].startswith("AKIA")


def test_access_log_names_the_client_the_request_id_and_the_time(run: Run) -> None:
    access = [r for r in run.records() if r["logger"] == "service.access"]
    (proxied,) = [r for r in access if r.get("x_request_id") == "edge-4711"]
    # The address the trusted-proxy rules give, not the proxy's own.
    assert proxied["client_ip"] == "203.0.113.7"
    assert (proxied["status"], proxied["type"], proxied["method"]) == (200, "OK", "POST")
    others = [r for r in access if r is not proxied and r["path"] == "/"]
    assert others and all(r["client_ip"] == "127.0.0.1" for r in others)
    # Sub-millisecond: uvloop's clock (whole milliseconds) would make nearly all of them 0.0.
    durations = [r["duration_ms"] for r in access]
    assert all(d > 0 for d in durations), durations
    assert sum(1 for d in durations if d != round(d)) > len(durations) // 2, durations


def test_a_redis_outage_logs_a_line_a_second_not_one_a_request(run: Run) -> None:
    assert run.outage_answers.count("InternalErrorException") == OUTAGE_CALLS
    failures = [r for r in run.records() if r["msg"].startswith("redis failure")]
    assert failures and all(r["kind"] for r in failures)
    # One a second per kind, each with the count held back since the one before.
    assert len(failures) <= OUTAGE_CALLS // 4, len(failures)
    assert len(failures) + sum(r["suppressed"] for r in failures) <= OUTAGE_CALLS
    assert any(r["suppressed"] > 0 for r in failures)


def test_only_a_terminal_gets_the_plain_banner_with_the_secret(run: Run, tmp_path: Path) -> None:
    """On a terminal (and only there, with DEMO off) the banner is text and shows the secret."""
    assert "AWS_SECRET_ACCESS_KEY" not in run.output and run.secrets["admin secret"]
    redis_server = RedisServer()
    redis_server.start()
    port = free_port()
    env = _env(REDIS_URL=redis_server.url, DATA_DIR=str(tmp_path), DEMO="false")
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
        cwd=PROJECT,
        env=env,
        stdout=child,
        stderr=subprocess.DEVNULL,
    )
    os.close(child)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"AWS_DEFAULT_REGION" not in seen and time.monotonic() < deadline:
            if select.select([main], [], [], 0.5)[0]:
                seen += os.read(main, 4096)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        os.close(main)
        redis_server.stop()
    text = seen.decode()
    assert text.startswith(f"serving Cognito GetDevice on http://127.0.0.1:{port}"), text
    assert "export AWS_ACCESS_KEY_ID=AKIA" in text and "AWS_SECRET_ACCESS_KEY=" in text
    assert "{" not in text
