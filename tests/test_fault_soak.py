"""bench/fault_soak.py for a few seconds: Redis restarted under mixed traffic, every answer right,
every 500 inside an unavailable window. (The long soak is a benchmark, not a test.)"""

from __future__ import annotations

from pathlib import Path

from bench import fault_soak


def test_redis_restarts_under_load_leave_no_wrong_answers(tmp_path: Path) -> None:
    result = fault_soak.run(seconds=6, every=2, users=12, concurrency=8, out=tmp_path)
    assert result["wrong_count"] == 0, result["wrong"]
    assert result["internal_errors_outside_windows"] == 0
    assert len(result["windows"]) >= 2
    assert all(w["internal_errors"] > 0 for w in result["windows"])  # the outages were real
    assert result["by_type"]["OK"] > 100
    # The service came back by itself after every restart.
    assert all(w["unavailable_s"] < w["redis_down_s"] + 3 for w in result["windows"])
    assert result["ok"]
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".md"]
