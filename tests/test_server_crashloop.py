"""Workers that cannot start (Redis unreachable): restarts back off, then `serve` gives up with
one line and exit status 3; one worker and several behave the same."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

import orjson
import pytest

from service.http.crashloop import EXIT_CRASH_LOOP, FIRST_DELAY_S, CrashLoop
from tests.conftest import PROJECT, free_port


def _serve(workers: int, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", "0", "--workers", str(workers)],
        cwd=PROJECT,
        env={
            **os.environ,
            # Nothing listens there: every worker dies at start.
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "DATA_DIR": tempfile.mkdtemp(prefix="cgd-crash-"),
            "DEMO": "false",
            "REDIS_TIMEOUT_S": "0.5",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_that_cannot_start_backs_off_then_the_server_gives_up(workers: int) -> None:
    started = time.monotonic()
    proc = _serve(workers, CRASH_LOOP_LIMIT="3")
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("serve kept restarting its workers: it never gave up")
    elapsed = time.monotonic() - started
    lines = stderr.strip().splitlines()
    assert proc.returncode == EXIT_CRASH_LOOP, stderr
    # It ends with one plain line that says what happened and why.
    last = lines[-1]
    assert last.startswith("error: a worker failed 3 times in a row"), last
    assert "CRASH_LOOP_LIMIT=3" in last and "Connection refused" in last, last
    # Each slot was started 3 times, with 0.5 s and then 1 s between starts (not at once, and
    # not 54 restarts in 10 s as before).
    logged = [orjson.loads(x) for x in lines[:-1] if x.startswith("{")]
    retries = [e["msg"] for e in logged if "again in" in e["msg"]]
    assert 2 <= len(retries) <= 2 * workers, retries
    assert any(m.endswith(f"again in {FIRST_DELAY_S:g} s") for m in retries), retries
    assert any(m.endswith("again in 1 s") for m in retries), retries
    assert elapsed >= FIRST_DELAY_S + 1


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_while_backing_off_exits_0(workers: int) -> None:
    proc = _serve(workers, CRASH_LOOP_LIMIT="100")
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "again in" in line:
            break
    else:
        proc.kill()
        pytest.fail("no restart was logged")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    proc.stderr.close()


def test_the_delay_doubles_up_to_a_cap_and_a_long_life_starts_the_count_again() -> None:
    crashes = CrashLoop(limit=7)
    assert [crashes.failed(0.1) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert crashes.failed(0.1) is None  # the 7th in a row
    crashes = CrashLoop(limit=3)
    assert crashes.failed(0.1) == 0.5 and crashes.failed(0.1) == 1.0
    assert crashes.failed(60.0) == 0.5  # it ran for a minute: not a crash loop
