"""The benchmark harness (bench/) runs end to end, about a second per mode, and writes results.

This proves the harness works; it measures nothing worth keeping (benchmarks are not tests).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bench.loadgen import find_wrk
from bench.procs import BenchError

PROJECT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_runs_every_mode_and_writes_results(tmp_path: Path) -> None:
    try:
        find_wrk(install=True)
    except BenchError as exc:
        pytest.skip(f"wrk is not available, so the harness cannot run: {exc}")
    out = tmp_path / "results"
    # 50 users at USER_RATE_PER_S=500: warm traffic stays under each user's rate up to
    # 25,000 req/s, and the hammered user is throttled from 600 req/s.
    options = (
        "--quick --duration 1 --short 1 --warmup 1 --users 50 --devices 1 --cold-tokens 300 "
        "--user-rate 500 --user-burst 100 --workers 1 --soak 2 --quiet-wait 0"
    )
    args = [sys.executable, "-m", "bench.run", *options.split(), "--out", str(out)]
    done = subprocess.run(args, cwd=PROJECT, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    [result] = out.glob("*.json")
    assert result.with_suffix(".md").read_text().startswith("# GetDevice benchmark")
    data = orjson.loads(result.read_bytes())
    assert {"machine", "plan", "seed", "runs", "summary", "soak", "redis_ceiling"} <= data.keys()
    assert {"python", "aiohttp", "uvloop", "hiredis", "redis_server"} <= data["machine"][
        "versions"
    ].keys()
    assert data["machine"]["cores_logical"] >= 1

    runs = {r["label"]: r for r in data["runs"]}
    assert set(runs) == {"baseline", "warm x1", "throttle x1", "cold x1", "soak x1"}
    for run in runs.values():
        assert run["requests"] > 0 and run["rps"] > 0
        assert set(run["latency_ms"]) >= {"p50", "p90", "p99", "p999"}
        assert run["unexpected"] == {}
        assert run["server_cpu_us_per_request"] > 0
        assert run["rss_mib"]["before"] and run["rss_mib"]["after"]
    assert set(runs["warm x1"]["answers"]) == {"OK"}
    assert runs["throttle x1"]["answers"].get("TooManyRequestsException", 0) > 0
    # The design's promise: one Redis command per warm request, at most two per cold one.
    assert runs["warm x1"]["redis_commands"]["per_request"] == pytest.approx(1.0, abs=0.05)
    assert runs["cold x1"]["redis_commands"]["per_request"] <= 2.05

    summary = data["summary"]
    assert summary["ok"] is True
    assert summary["warm_vs_baseline"]["1"] > 0
    assert summary["soak_rss_growth_pct"] is not None
    assert {t["name"] for t in summary["targets"]} >= {
        "warm GetDevice, 1 worker, vs bare aiohttp",
        "Redis commands per warm request",
        "Redis commands per cold request",
    }
