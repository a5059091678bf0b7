"""service/runtime/metrics.py: what /metrics exposes, and docs/metrics.md listing exactly that.

Sign-in outcomes, refusals by quota and Redis failures by kind are provoked for real (a real
Redis paused, filled or stopped) and read back from a real scrape; build info, worker restarts
and each worker's process metrics from `serve` with two workers, one of them killed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import platform
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from service.runtime import metrics
from service.runtime.settings import Settings
from tests import test_server
from tests.auth_helpers import PASSWORD, default_client, user_with_password
from tests.conftest import Admin, LiveServer, RedisServer, boto_client, make_settings
from tests.metrics_helpers import (
    documented,
    exercise,
    names,
    samples,
    scrape_text,
    server_get_device,
    value,
)
from tests.test_server import ServeProcess, _is_worker

# test_server's fixture, shared: serve processes started by a test are stopped after it.
serve_factory = test_server.serve_factory

SIGNIN = "cognito_signin_total"


def _scrape(live: LiveServer) -> Any:
    return samples(scrape_text(live.url))


def _delta(before: Any, after: Any, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_signin_outcomes_by_flow_and_result(live: LiveServer, admin: Admin) -> None:
    cognito = boto_client(live.url)
    user_with_password(admin, "olga")
    client_id = default_client(admin)
    before = _scrape(live)
    ok = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "olga", "PASSWORD": PASSWORD},
    )
    refresh = ok["AuthenticationResult"]["RefreshToken"]
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "olga", "PASSWORD": "Wr0ng-Horse!"},
        )
    challenge = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_SRP_AUTH",
        AuthParameters={"USERNAME": "olga", "SRP_A": "ab" * 192},
    )
    assert challenge["ChallengeName"] == "PASSWORD_VERIFIER"
    with pytest.raises(cognito.exceptions.InvalidParameterException):
        cognito.initiate_auth(ClientId=client_id, AuthFlow="NO_SUCH_FLOW", AuthParameters={})
    with pytest.raises(cognito.exceptions.InvalidParameterException):
        cognito.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="PASSWORD_VERIFIER",
            Session="x" * 40,
            ChallengeResponses={"USERNAME": "olga"},
        )
    cognito.get_tokens_from_refresh_token(ClientId=client_id, RefreshToken=refresh)
    time.sleep(0.1)
    after = _scrape(live)
    expected = {
        ("InitiateAuth", "USER_PASSWORD_AUTH", "success"): 1,
        ("InitiateAuth", "USER_PASSWORD_AUTH", "NotAuthorizedException"): 1,
        ("InitiateAuth", "USER_SRP_AUTH", "challenge"): 1,
        # A value outside the model's enum is one label, whatever the client sent.
        ("InitiateAuth", "invalid", "InvalidParameterException"): 1,
        ("RespondToAuthChallenge", "PASSWORD_VERIFIER", "InvalidParameterException"): 1,
        ("GetTokensFromRefreshToken", "REFRESH_TOKEN", "success"): 1,
    }
    for (operation, flow, result), n in expected.items():
        got = _delta(before, after, SIGNIN, operation=operation, flow=flow, result=result)
        assert got == n, (operation, flow, result)
    assert not any(
        name == SIGNIN and dict(labels)["flow"] == "NO_SUCH_FLOW" for name, labels in after
    )


def test_throttled_by_quota(live_factory: Any) -> None:
    server, helper = live_factory(user_rate_per_s=0.01, user_burst=2, pool_rate_limit=False)
    cognito = boto_client(server.url)
    _, device, token = helper.user_with_device("tina")
    user_with_password(helper, "sam")
    client_id = default_client(helper)
    before = _scrape(server)
    answers = [server_get_device(cognito, token, device) for _ in range(5)]
    assert answers.count("TooManyRequestsException") == 3
    for _ in range(4):
        with contextlib.suppress(cognito.exceptions.ClientError):
            cognito.initiate_auth(
                ClientId=client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": "sam", "PASSWORD": "Wr0ng-Horse!"},
            )
    time.sleep(0.1)
    after = _scrape(server)
    assert _delta(before, after, "cognito_throttled_total", quota="user") == 3
    assert _delta(before, after, "cognito_throttled_total", quota="signin") == 2
    assert _delta(before, after, "cognito_throttled_total", quota="pool") == 0


def test_pool_quota_refusals_are_labelled_pool(live_factory: Any) -> None:
    server, helper = live_factory(pool_rate_limit=True, pool_rate_per_s=0.01, pool_burst=1)
    cognito = boto_client(server.url)
    _, device, token = helper.user_with_device("paul")
    before = _scrape(server)
    answers = [server_get_device(cognito, token, device) for _ in range(3)]
    assert answers == ["OK", "TooManyRequestsException", "TooManyRequestsException"]
    time.sleep(0.1)
    after = _scrape(server)
    assert _delta(before, after, "cognito_throttled_total", quota="pool") == 2
    assert _delta(before, after, "cognito_throttled_total", quota="user") == 0


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer(None, "--maxmemory-policy", "noeviction")
    server.start()
    yield server
    server.stop()


def test_redis_errors_by_kind(own_redis: RedisServer) -> None:
    live = LiveServer(
        make_settings(own_redis.url, redis_timeout_s=0.3, redis_max_inflight=1)
    ).start()
    try:
        helper = Admin(live.settings, live)
        helper.wait_pools()
        cognito = boto_client(live.url)
        _, device, token = helper.user_with_device("rita")
        assert server_get_device(cognito, token, device) == "OK"
        sync = redis.Redis.from_url(own_redis.url)
        before = _scrape(live)
        # reply: Redis answers the script with an error (OOM: no write fits under maxmemory).
        sync.config_set("maxmemory", 1)
        assert server_get_device(cognito, token, device) == "InternalErrorException"
        sync.config_set("maxmemory", 0)
        # timeout, and overloaded: Redis paused, one command waits (REDIS_MAX_INFLIGHT=1) and
        # times out, the others are shed at once.
        sync.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            first = pool.submit(server_get_device, boto_client(live.url), token, device)
            time.sleep(0.1)
            shed = list(
                pool.map(
                    lambda _: server_get_device(boto_client(live.url), token, device), range(3)
                )
            )
            assert first.result() == "InternalErrorException"
        assert shed == ["TooManyRequestsException"] * 3
        sync.execute_command("CLIENT", "UNPAUSE")
        sync.close()
        # unavailable: Redis gone.
        own_redis.stop()
        assert server_get_device(cognito, token, device) == "InternalErrorException"
        time.sleep(0.1)
        after = _scrape(live)
    finally:
        live.stop()
        helper.redis.close()
    kind = "cognito_redis_errors_total"
    assert _delta(before, after, kind, kind="reply") == 1
    assert _delta(before, after, kind, kind="timeout") == 1
    assert _delta(before, after, kind, kind="overloaded") == 3
    assert _delta(before, after, kind, kind="unavailable") == 1
    assert _delta(before, after, "cognito_throttled_total", quota="overload") == 3


def _workers(server: ServeProcess) -> list[int]:
    children = subprocess.run(
        ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [int(pid) for pid in children if _is_worker(int(pid))]


def test_restarts_build_info_and_each_workers_process_metrics(serve_factory: Any) -> None:
    server = serve_factory(workers=2, BUILD_REVISION="0123abc")
    base = f"http://127.0.0.1:{server.port}"
    found = samples(scrape_text(base))
    restarts = "cognito_worker_restarts_total"
    assert value(found, restarts, worker="1") == value(found, restarts, worker="2") == 0
    info = [labels for name, labels in found if name == "cognito_build_info"]
    assert info == [
        frozenset(
            {
                ("version", "0.1.0"),
                ("revision", "0123abc"),
                ("python", platform.python_version()),
            }
        )
    ]
    workers = _workers(server)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        alive = _workers(server)
        if len(alive) == 2 and workers[0] not in alive:
            break
        time.sleep(0.1)
    server.wait_ready()
    # The new process counts its own restart as it starts (after its imports, about a second).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = samples(scrape_text(base))
        if value(found, restarts, worker="1") + value(found, restarts, worker="2") == 1:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the restart was not counted")
    # Each process's own memory and CPU, by slot (not by pid), the supervisor's too.
    rss = {
        dict(labels)["worker"]: v
        for (name, labels), v in found.items()
        if name == "process_resident_memory_bytes"
    }
    assert set(rss) == {"1", "2", "supervisor"}
    assert all(v > 1_000_000 for v in rss.values())
    cpu = [n for (n, labels) in found if n == "process_cpu_seconds_total"]
    assert len(cpu) == 3
    assert server.stop() == 0


def test_docs_list_exactly_the_metrics_exposed(serve_factory: Any, settings: Settings) -> None:
    doc = documented()
    assert doc, "docs/metrics.md has no table rows"
    assert set(doc.values()) <= {"any", "1", ">1"}
    helper = Admin(settings, None)
    try:
        for workers, modes in ((1, {"any", "1"}), (2, {"any", ">1"})):
            server = serve_factory(workers=workers)
            base = f"http://127.0.0.1:{server.port}"
            exercise(base, helper)
            time.sleep(0.6)  # every worker has flushed
            exposed = names(scrape_text(base))
            want = {name for name, mode in doc.items() if mode in modes}
            assert exposed == want, (workers, exposed ^ want)
            server.stop()
    finally:
        helper.redis.close()
    # And every metric the service defines is in the document.
    defined = {
        "cognito_" + n
        for n in (
            "requests_total",
            "request_duration_seconds",
            "redis_call_duration_seconds",
            "redis_errors_total",
            "token_cache_total",
            "throttled_total",
            "signin_total",
            "in_flight_requests",
            "build_info",
            "worker_restarts_total",
        )
    }
    assert defined <= set(doc)
    assert metrics.REDIS_ERROR_KINDS and metrics.THROTTLE_QUOTAS
