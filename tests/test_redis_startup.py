"""A worker's start against a Redis that does not answer: SIGTERM still ends `serve` at once.

Each wait on Redis is bounded by REDIS_TIMEOUT_S, but a start makes several calls: before, a
SIGTERM during the start was only acted on once the start had finished or failed, REDIS_TIMEOUT_S
per call later (and, with a call that never timed out, never: only SIGKILL stopped it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import orjson
import pytest

from tests.conftest import PROJECT, RedisServer, free_port


@pytest.fixture
def paused_redis() -> Iterator[RedisServer]:
    """A redis-server that accepts connections (the kernel does) and never answers."""
    server = RedisServer()
    server.start()
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    yield server
    server.proc.send_signal(signal.SIGCONT)
    server.stop()


@pytest.mark.timeout(60)
def test_sigterm_ends_serve_while_a_worker_waits_on_redis(paused_redis: RedisServer) -> None:
    env = {
        **os.environ,
        "REDIS_URL": paused_redis.url,
        "REDIS_TIMEOUT_S": "20",
        "DATA_DIR": tempfile.mkdtemp(prefix="cgd-serve-"),
        "ADMIN_CREDENTIALS": "AKIDSTARTUP:startup-secret",
        "DEMO": "false",
    }
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", "1"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # The banner (a JSON line off a terminal): the worker is starting now.
        assert orjson.loads(proc.stdout.readline())["msg"].startswith("serving")
        time.sleep(1.5)  # well into the start's first Redis call
        assert proc.poll() is None
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=40)
        took_s = time.monotonic() - started
        assert took_s < 5, f"SIGTERM took {took_s:.1f}s to end serve (REDIS_TIMEOUT_S=20)"
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
