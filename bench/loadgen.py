"""Load from wrk: find (or install) it, run one of bench/wrk/*.lua, read what its done() printed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .procs import BenchError

SCRIPTS = Path(__file__).resolve().parent / "wrk"
MARKER = "BENCH_JSON "


def find_wrk(install: bool = True) -> str:
    """`wrk` on PATH; else, as root on Debian/Ubuntu, `apt-get install -y wrk`; else BenchError."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if install and apt and os.geteuid() == 0:
        for args in ([apt, "install", "-y", "wrk"], [apt, "update"], [apt, "install", "-y", "wrk"]):
            done = subprocess.run(
                args,
                capture_output=True,
                timeout=600,
                check=False,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
            if args[1] == "install" and done.returncode == 0:
                break
        found = shutil.which("wrk")
        if found:
            return found
    raise BenchError(
        "wrk not found on PATH and could not be installed: install it "
        "(Debian/Ubuntu: `sudo apt-get install -y wrk`; macOS: `brew install wrk`; "
        "or build https://github.com/wg/wrk) and run again"
    )


def wrk_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else ""


@dataclass(frozen=True)
class Load:
    """How to drive one wrk run."""

    script: str  # a file in bench/wrk
    args: tuple[str, ...]
    duration_s: float
    threads: int = 1
    connections: int = 50
    # Each request uses up its row (cold.lua, consume.lua): a thread out of rows stops, so the
    # rate is answers over the span each thread was busy.
    consumes: bool = False


def run_wrk(binary: str, url: str, load: Load) -> dict[str, Any]:
    """Run wrk; return what the script's done() reported, plus req/s and latencies in ms."""
    duration = max(1, round(load.duration_s))
    if load.script.startswith("bench."):
        # A Python load generator (bench/srpload.py) that prints the same BENCH_JSON line.
        args = [sys.executable, "-m", load.script, url, *load.args]
        args += ["--duration", str(duration), "--connections", str(load.connections)]
        return _read(load, args, duration, cwd=SCRIPTS.parent.parent)
    args = [
        binary,
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(SCRIPTS / load.script),
        url,
        "--",
        *load.args,
    ]
    return _read(load, args, duration)


def _read(load: Load, args: list[str], duration: int, cwd: Path | None = None) -> dict[str, Any]:
    try:
        out = subprocess.run(
            args, capture_output=True, text=True, timeout=duration + 60, check=False, cwd=cwd
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {duration + 60}s") from None
    line = next((x for x in out.stdout.splitlines() if x.startswith(MARKER)), None)
    if out.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({out.returncode}): {(out.stderr or out.stdout)[-800:]}")
    raw = orjson.loads(line[len(MARKER) :])
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    rps = raw["requests"] / seconds if seconds else 0.0
    window = raw.get("extra", {}).get("window_rps")
    exhausted = bool(raw.get("extra", {}).get("exhausted", False))
    if load.consumes and window:
        rps = window  # a thread that ran out of tokens stopped early: rate over its busy span
        if exhausted:
            seconds = raw["requests"] / window  # so that CPU / seconds means cores busy
    return {
        "script": load.script,
        "threads": load.threads,
        "connections": load.connections,
        "duration_s": round(seconds, 3),
        "requests": raw["requests"],
        "rps": round(rps, 1),
        "latency_ms": {k: round(lat[k] / 1000, 3) for k in ("p50", "p90", "p99", "p999", "max")},
        "answers": dict(sorted(raw["answers"].items())),
        "socket_errors": raw["socket_errors"],
        "exhausted": exhausted,
        "sent": int(raw.get("extra", {}).get("sent", 0)) or raw["requests"],
    }


def unexpected(result: dict[str, Any], allowed: frozenset[str]) -> dict[str, int]:
    """Answers and socket errors that the mode does not allow (any of them fails the run)."""
    bad = {k: v for k, v in result["answers"].items() if k not in allowed}
    bad.update({f"socket_{k}": v for k, v in result["socket_errors"].items() if v})
    return bad
