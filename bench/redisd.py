"""The Redis under test: a redis-server on loopback (or REDIS_URL), its stats, its ceiling; and
the restartable one (AOF on) that the fault soak stops and starts."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

import service.ops  # noqa: F401  (the operations register their scripts in lua.ALL)
from service.redis_io import lua
from service.redis_io.embedded import EmbeddedRedisError, find_redis_server

from .procs import BenchError, Children, free_port

# Commands a script issues with redis.call(): Redis counts them in commandstats too, so they are
# told apart from the commands that cross the network (what "commands per request" means).
_INNER = re.compile(r"redis\.p?call\(\s*['\"](\w+)['\"]")
SCRIPT_INNER = frozenset(
    name.lower() for script in lua.ALL for name in _INNER.findall(script.source)
)
# The harness's own commands, not the service's.
HARNESS_COMMANDS = frozenset({"info", "config", "ping", "client", "hello"})


@dataclass
class RedisUnderTest:
    url: str
    pid: int | None  # None: an external REDIS_URL, not ours
    client: redis.Redis

    def commandstats(self) -> dict[str, int]:
        raw = self.client.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in raw.items()}

    def version(self) -> str:
        return str(self.client.info("server")["redis_version"])

    def close(self) -> None:
        self.client.close()


def start_redis(
    children: Children, data_dir: Path, external_url: str = "", binary: str = ""
) -> RedisUnderTest:
    """Use `external_url`, or start `binary` (default: the one the service would find) on a free
    loopback port in `data_dir`."""
    if external_url:
        client = redis.Redis.from_url(external_url, socket_timeout=10)
        client.ping()
        return RedisUnderTest(external_url, None, client)
    try:
        binary = find_redis_server(binary)
    except EmbeddedRedisError as exc:
        raise BenchError(str(exc)) from None
    # free_port() finds a port free now; another redis-server may take it before ours binds it,
    # and answer our PING in its stead (ours exits: address in use). So the answer must come
    # from our process; else another port.
    for attempt in range(3):
        port = free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)]
        args += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
        proc = children.start("redis", args)
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, socket_timeout=10)
        if _answers(client, proc) == proc.pid:
            return RedisUnderTest(url, proc.pid, client)
        client.close()
        tail = children.log_tail("redis")
        children.stop(proc)
        if attempt == 2:
            raise BenchError(f"redis-server did not start: {tail}")
    raise AssertionError("unreachable: the last attempt raises")


def _answers(client: redis.Redis, proc: subprocess.Popen[bytes]) -> int | None:
    """The pid of the redis-server that answers `client` once `proc` is up; None if none."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return int(client.info("server")["process_id"])
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.02)


def commands_per_request(delta: dict[str, int], requests: int) -> dict[str, Any]:
    """Commands that crossed the network per request, and those scripts ran inside Redis.

    `delta` is the change in INFO commandstats calls over the run, by command name."""
    delta = {k: v for k, v in delta.items() if v > 0 and k not in HARNESS_COMMANDS}
    wire = sum(v for k, v in delta.items() if k not in SCRIPT_INNER)
    inner = sum(v for k, v in delta.items() if k in SCRIPT_INNER)
    per = max(requests, 1)
    return {
        "per_request": round(wire / per, 4),
        "script_inner_per_request": round(inner / per, 4),
        "delta": dict(sorted(delta.items())),
    }


def redis_benchmark(
    url: str, command: Sequence[str], *, clients: int, pipeline: int, requests: int
) -> dict[str, Any] | None:
    """Run redis-benchmark on one command; None when redis-benchmark is not installed."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    params = redis.connection.parse_url(url)  # type: ignore[no-untyped-call]
    if "path" in params:
        where = ["-s", params["path"]]
    else:
        where = ["-h", str(params.get("host", "127.0.0.1")), "-p", str(params.get("port", 6379))]
    if params.get("password"):
        where += ["-a", str(params["password"])]
    args = [
        binary,
        *where,
        "-c",
        str(clients),
        "-P",
        str(pipeline),
        "-n",
        str(requests),
        "--csv",
        *command,
    ]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    rows = [r for r in csv.reader(io.StringIO(out.stdout)) if r and r[0] != "test"]
    if out.returncode != 0 or not rows:
        return {"error": (out.stderr or out.stdout).strip()[-300:]}
    row = rows[-1]
    result: dict[str, Any] = {
        "clients": clients,
        "pipeline": pipeline,
        "requests": requests,
        "rps": float(row[1]),
    }
    if len(row) >= 7:
        result.update(p50_ms=float(row[4]), p99_ms=float(row[6]))
    return result


def redis_benchmark_version() -> str | None:
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


class RedisProcess:
    """redis-server with AOF (fsync always), restartable on the same port and data dir."""

    def __init__(self, children: Children, data_dir: Path) -> None:
        self.children = children
        self.dir = data_dir
        self.port = free_port()
        self.binary = find_redis_server()
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
        ]  # fmt: skip
        self.proc = self.children.start("redis", args)
        client = redis.Redis.from_url(self.url, socket_timeout=2)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                client.close()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    log = self.children.log_tail("redis")
                    raise BenchError(f"redis did not start: {log}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        self.children.stop(self.proc, grace_s=5)
