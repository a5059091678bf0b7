"""`python -m service serve` as a real process: banner, drain on SIGTERM, several workers,
/metrics summed across workers, a dead worker restarted."""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis

from service.runtime.settings import Settings
from tests.conftest import PROJECT, Admin, free_port

TARGET = "AWSCognitoIdentityProviderService.GetDevice"


class ServeProcess:
    def __init__(
        self, redis_url: str, workers: int = 1, log_path: str | None = None, **env: str
    ) -> None:
        self.port = free_port()
        self.log = open(log_path or os.devnull, "w")  # noqa: SIM115 (closed in stop())
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DATA_DIR": tempfile.mkdtemp(prefix="cgd-serve-"),
            "POOL_REFRESH_S": "0.05",
            **env,
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            cwd=PROJECT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert self.proc.stdout is not None
        self.banner = [
            self.proc.stdout.readline(),
            self.proc.stdout.readline(),
            self.proc.stdout.readline(),
        ]
        self.wait_ready()

    def wait_ready(self, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                status, _ = self.get("/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("service did not become ready")

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def get_device(self, token: str, device: str) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            body = orjson.dumps({"AccessToken": token, "DeviceKey": device})
            conn.request(
                "POST",
                "/",
                body,
                {"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"},
            )
            resp = conn.getresponse()
            return resp.status, orjson.loads(resp.read())
        finally:
            conn.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self.log.close()


@pytest.fixture
def serve_factory(settings: Settings, clean_redis: None) -> Iterator[Any]:
    started: list[ServeProcess] = []

    def make(**kw: Any) -> ServeProcess:
        proc = ServeProcess(settings.redis_url, **kw)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()


def test_banner_is_a_working_aws_cli_line(serve_factory: Any) -> None:
    server = serve_factory()
    # Not a terminal: every banner line is a JSON log line.
    serving, try_it, sign_in = (orjson.loads(line) for line in server.banner)
    assert serving["endpoint"] == f"http://127.0.0.1:{server.port}"
    assert serving["msg"].startswith(f"serving Cognito GetDevice on {serving['endpoint']}")
    line = try_it["command"]
    match = re.search(r"--device-key (\S+) --access-token (\S+)", line)
    assert line.startswith("aws cognito-idp get-device --endpoint-url") and match
    assert sign_in["command"].startswith("aws cognito-idp initiate-auth")
    status, body = server.get_device(match.group(2), match.group(1))
    assert status == 200 and body["Device"]["DeviceKey"] == match.group(1)
    # Then the admin credentials serve made (ADMIN_CREDENTIALS unset), ready to paste (DEMO on).
    assert server.proc.stdout is not None
    admin = orjson.loads(server.proc.stdout.readline())
    assert admin["msg"] == "admin calls (SigV4) take these credentials"
    exports = admin["command"].split()
    assert exports[0] == "export"
    env = dict(item.split("=", 1) for item in exports[1:] if "=" in item)
    assert env["AWS_ACCESS_KEY_ID"] == admin["access_key_id"]
    import boto3

    idp = boto3.client(
        "cognito-idp",
        endpoint_url=f"http://127.0.0.1:{server.port}",
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    assert idp.describe_user_pool(UserPoolId="us-east-1_LocalPool")["UserPool"]["Id"]


def test_sigterm_drains_in_flight_requests(serve_factory: Any, settings: Settings) -> None:
    server = serve_factory(REDIS_TIMEOUT_S="5", GRACE_S="10")
    helper = Admin(settings, None)
    _, device, token = helper.user_with_device("drain")
    assert server.get_device(token, device)[0] == 200  # warm the claims cache
    client = redis.Redis.from_url(settings.redis_url)
    # Hold every request inside Redis for a while, then ask the service to stop.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        client.execute_command("CLIENT", "PAUSE", 1500)
        futures = [pool.submit(server.get_device, token, device) for _ in range(8)]
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        answers = [f.result(timeout=20) for f in futures]
    # Every in-flight request got a complete answer (some throttled: the bucket holds 10).
    for status, body in answers:
        assert (status == 200 and body["Device"]["DeviceKey"] == device) or (
            body["__type"] == "TooManyRequestsException"
        )
    assert sum(1 for status, _ in answers if status == 200) >= 1
    assert server.proc.wait(20) == 0
    client.close()


def _metric(text: str, name: str, labels: str) -> float:
    braces = rf"\{{{re.escape(labels)}\}}" if labels else ""
    pattern = re.compile(rf"^{re.escape(name)}{braces} (\S+)$", re.M)
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0


def test_metrics_sum_over_two_workers_and_dead_workers_come_back(
    serve_factory: Any, settings: Settings
) -> None:
    server = serve_factory(workers=2, USER_RATE_PER_S="1000", USER_BURST="1000")
    helper = Admin(settings, None)
    _, device, token = helper.user_with_device("metrics")
    n = 60
    # One request first: it verifies the token and caches its claims in Redis, so every later
    # one, on either worker, is a cache hit (concurrent first requests could all miss).
    assert server.get_device(token, device)[0] == 200
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: server.get_device(token, device), range(n - 1)))
    assert all(status == 200 for status, _ in answers)
    # Whichever worker answers the scrape, it reports all workers' counts (each worker adds
    # its counts every 0.5 s, and at once when it answers the scrape itself).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = server.get("/metrics")[1].decode()
        if _metric(text, "cognito_requests_total", 'operation="GetDevice",type="OK"') == n:
            break
        time.sleep(0.1)
    time.sleep(1.0)  # both workers have flushed since
    for _ in range(4):
        status, body = server.get("/metrics")
        assert status == 200
        text = body.decode()
        ok = _metric(text, "cognito_requests_total", 'operation="GetDevice",type="OK"')
        assert ok == n
        hits = _metric(text, "cognito_token_cache_total", 'result="hit"')
        misses = _metric(text, "cognito_token_cache_total", 'result="miss"')
        assert (hits, misses) == (n - 1, 1)
        count = _metric(
            text, "cognito_request_duration_seconds_bucket", 'le="+Inf",operation="GetDevice"'
        )
        assert count == n
        redis_calls = _metric(text, "cognito_redis_call_duration_seconds_count", "")
        assert redis_calls == n
    # Kill one worker outright: the supervisor starts another, and service goes on.
    children = subprocess.run(
        ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    workers = [int(pid) for pid in children if _is_worker(int(pid))]
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = subprocess.run(
            ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        alive = [int(pid) for pid in children if _is_worker(int(pid))]
        if len(alive) == 2 and workers[0] not in alive:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the dead worker was not replaced")
    server.wait_ready()
    assert all(server.get_device(token, device)[0] == 200 for _ in range(10))
    assert server.stop() == 0


def _is_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"spawn_main" in fh.read()
    except OSError:
        return False


def test_logs_are_json_lines_with_request_ids_and_never_a_token(
    serve_factory: Any, settings: Settings, tmp_path: Any
) -> None:
    log_path = str(tmp_path / "serve.log")
    server = serve_factory(log_path=log_path, ACCESS_LOG="true")
    helper = Admin(settings, None)
    _, device, token = helper.user_with_device("logged")
    status, _ = server.get_device(token, device)
    assert status == 200
    status, body = server.get_device(token[:-5] + "AAAAA", device)  # a forged signature
    assert body["__type"] == "NotAuthorizedException"
    assert server.stop() == 0
    with open(log_path) as fh:
        text = fh.read()
    lines = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    access = [e for e in lines if e["logger"] == "service.access" and e["path"] == "/"]
    assert [(e["status"], e["type"]) for e in access] == [
        (200, "OK"),
        (400, "NotAuthorizedException"),
    ]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", e["request_id"]) for e in access)
    assert token[:40] not in text and token[-40:] not in text
