"""`python -m bench.run`: GetDevice under wrk, side by side with a bare-aiohttp baseline.

One command, bounded in time, loopback only. It starts its own redis-server (or uses REDIS_URL),
seeds users, devices and tokens through the service's own code, measures the baseline and the
service (1 and N workers; warm, throttle and cold traffic), asks redis-benchmark for the Redis
ceiling, and writes bench/results/<timestamp>.{json,md,png}. Every child process is stopped on
exit, Ctrl-C included. See bench/README.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from . import loadgen, machine, phases, redisd, report, seed
from .harness import Bench
from .passes import run_pass
from .plan import Plan, build_parser, plan_from
from .procs import BenchError, Children


def _run(plan: Plan, children: Children, tmp: Path) -> int:
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    bench = Bench(plan, children, tmp)
    tools = {
        "wrk": loadgen.wrk_version(bench.wrk),
        "redis_benchmark": redisd.redis_benchmark_version(),
    }
    results: dict[str, Any] = {
        "timestamp": stamp,
        "machine": machine.describe(bench.redis.version(), tools),
        "plan": plan.describe(),
    }
    bench.do_seed()
    assert bench.seed is not None
    results["seed"] = seed.summary(bench.seed, plan.cold_tokens)
    with_proxy = "proxy" in plan.modes
    for i, workers in enumerate(plan.workers):
        run_pass(
            bench,
            workers,
            with_baseline=i == 0 and "baseline" in plan.modes,
            with_proxy=with_proxy and workers == 1,
            first_pass=i == 0,
        )
    if with_proxy and 1 not in plan.workers:
        # The proxy is measured in front of one worker, next to a direct warm run of it.
        run_pass(bench, 1, with_baseline=False, with_proxy=True, modes=[])
    if with_proxy:
        results["proxy"] = bench.proxy_info
    elif plan.proxy_skipped:
        results["proxy"] = {"skipped": plan.proxy_skipped}
    if "memory" in plan.modes:
        results["memory"] = phases.redis_memory(bench)
    if "redis" in plan.modes:
        results["redis_ceiling"] = phases.redis_ceiling(bench)
    if "soak" in plan.modes and plan.soak_s > 0:
        results["soak"] = phases.soak(bench)
    results["runs"] = bench.entries
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.monotonic() - started, 1)
    results["summary"] = report.summarise(results)
    paths = report.write(results, plan.out, stamp, chart_too=plan.chart)
    print()
    print(report.markdown(results))
    print("wrote " + ", ".join(str(p) for p in paths))
    if not results["summary"]["ok"]:
        print("FAILED: unexpected answers (see 'unexpected' in the runs above)", file=sys.stderr)
        return 1
    return 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    plan = plan_from(build_parser().parse_args(argv))
    # Ctrl-C stops the run (even when started with SIGINT ignored, as shells do for `&` jobs).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    with tempfile.TemporaryDirectory(prefix="cgd-bench-") as tmp:
        children = Children(Path(tmp))
        try:
            return _run(plan, children, Path(tmp))
        except BenchError as exc:
            print(f"bench: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("bench: interrupted; stopping child processes", file=sys.stderr)
            return 130
        finally:
            children.stop_all()
            # Anything that escaped its process group (it should not): stop it too.
            for child in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()


if __name__ == "__main__":
    sys.exit(main())
