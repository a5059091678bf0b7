"""bench/examples/: the locustfile runs headless against a live server on the seed file's tokens,
with no failures; the k6 script at least parses."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import test_cli
from tests.conftest import PROJECT, Admin, LiveServer
from tests.noskip import unavailable
from tests.test_cli import Runner

env = test_cli.env
main = test_cli.main
EXAMPLES = PROJECT / "bench" / "examples"


def test_locustfile_drives_get_and_list_devices_without_failures(
    live_factory: Callable[..., tuple[LiveServer, Admin]],
    main: Runner,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    # The locustfile stays under the default per-user quota; headroom for a busy machine.
    server, _ = live_factory(user_rate_per_s=100.0, user_burst=100)
    seed = tmp_path / "seed.csv"
    main("seed", "--users", "40", "--devices", "2", "--tokens", "--format", "csv",
         "--out", str(seed))  # fmt: skip
    stats = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(EXAMPLES / "locustfile.py"), "--headless",
         "--users", "20", "--spawn-rate", "20", "--run-time", "4s", "--host", server.url,
         "--csv", str(stats), "--only-summary", "--loglevel", "WARNING"],
        env={**env, "SEED_FILE": str(seed)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    with (tmp_path / "run_stats.csv").open() as f:
        rows: dict[str, dict[str, Any]] = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert int(rows["GetDevice"]["Request Count"]) > 20
    assert int(rows["ListDevices"]["Request Count"]) > 5


def test_k6_script_parses() -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (run scripts/install-browser-deps as root)")
    source = (EXAMPLES / "k6.js").read_text()
    proc = subprocess.run(
        [node, "--input-type=module", "--check"], input=source, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
