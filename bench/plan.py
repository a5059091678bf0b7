"""What one run does: the plan, from the command line (`python -m bench.run --help`)."""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .machine import PROJECT
from .proxy import find_nginx

RESULTS = PROJECT / "bench" / "results"
MODES = (
    "baseline",
    "warm",
    "paced",
    "throttle",
    "cold",
    "list",
    "update",
    "mixed",
    "scale",
    "c10",
    "confirm",
    "forget",
    "signout",
    "password",
    "refresh",
    "srp",
    "memory",
    "redis",
    "soak",
    "proxy",
)
DEFAULT_MODES = tuple(m for m in MODES if m != "soak")


@dataclass
class Plan:
    """Everything a run does, from the command line."""

    quick: bool
    duration_s: float  # warm and baseline
    short_s: float  # throttle and cold
    warmup_s: float
    rounds: int  # warm runs of baseline and service take turns this many times
    quiet_wait_s: float  # waiting, in all, for other work on the machine to stop
    users: int
    devices: int
    cold_tokens: int
    workers: list[int]
    threads: int
    connections: int
    low_connections: int  # the c10 mode's wrk connections
    list_users: int  # users with list_devices devices each (list mode)
    list_devices: int
    spare_devices: int  # unconfirmed devices to confirm, then forget (confirm, forget modes)
    signout_users: int  # throwaway users, one sign-out each (signout mode)
    scale_tokens: int  # distinct warm tokens of the scale mode
    signin_users: int  # users with a password and a refresh token (password, refresh, srp)
    srp_procs: int  # processes of the SRP load generator (bench/srpload.py)
    srp_connections: int  # sign-ins in flight over all of them
    memory_users: int  # users seeded for the memory mode
    paced_rate: float  # req/s offered in all by the paced mode
    user_rate_per_s: float
    user_burst: int
    route_cache_size: int  # ROUTE_CACHE_SIZE of the service under test (0: its default)
    # The throttle mode on a service of its own with this rate and burst (0: on the same service
    # as the other modes, with --user-rate and --user-burst).
    throttle_user_rate_per_s: float
    throttle_user_burst: int
    soak_s: float
    soak_user_rate_per_s: int
    modes: list[str]
    out: Path
    chart: bool
    install: bool
    redis_url: str = field(default="", repr=False)
    redis_server: str = ""
    service_path: str = ""  # a directory holding another `service` package to measure
    nginx: str = ""  # the nginx binary for the proxy mode ("" if not found)
    proxy_skipped: str = ""  # why the proxy mode, asked for or a default, does not run

    def describe(self) -> dict[str, Any]:
        """The plan as recorded with the results (no output path, no Redis URL)."""
        recorded = asdict(self)
        for private in ("out", "chart", "install", "redis_url", "redis_server"):
            del recorded[private]
        recorded["external_redis"] = bool(self.redis_url)
        recorded["redis_server"] = os.path.basename(self.redis_server) or None
        return recorded


def plan_from(args: argparse.Namespace) -> Plan:
    """The plan for parsed arguments: --quick and the defaults fill what is not given."""
    quick = args.quick
    cores = os.cpu_count() or 1
    workers = args.workers or sorted({1, cores})
    modes = args.modes or list(DEFAULT_MODES)
    if args.soak and "soak" not in modes:
        modes.append("soak")
    nginx = find_nginx()
    proxy_skipped = ""
    if "proxy" in modes and not nginx:
        modes.remove("proxy")
        proxy_skipped = "nginx not found"
    duration = args.duration or (3.0 if quick else 15.0)
    return Plan(
        quick=quick,
        duration_s=duration,
        short_s=args.short or min(duration, 2.0 if quick else 8.0),
        warmup_s=args.warmup or (1.0 if quick else 3.0),
        rounds=args.rounds or (1 if quick else 3),
        quiet_wait_s=args.quiet_wait if args.quiet_wait is not None else (10.0 if quick else 60.0),
        users=args.users or (200 if quick else 1000),
        devices=args.devices or (2 if quick else 4),
        cold_tokens=args.cold_tokens or (4000 if quick else 24000),
        workers=workers,
        threads=args.threads,
        connections=args.connections,
        low_connections=args.low_connections,
        list_users=args.list_users or (10 if quick else 20),
        list_devices=args.list_devices,
        spare_devices=args.spare_devices or (3000 if quick else 20000),
        signout_users=args.signout_users or (1500 if quick else 8000),
        scale_tokens=args.scale_tokens or (20000 if quick else 40000),
        signin_users=args.signin_users or (100 if quick else 200),
        srp_procs=args.srp_procs or cores,
        srp_connections=args.srp_connections,
        memory_users=args.memory_users or (500 if quick else 2000),
        paced_rate=args.paced_rate,
        user_rate_per_s=args.user_rate,
        user_burst=args.user_burst,
        route_cache_size=args.route_cache_size,
        throttle_user_rate_per_s=args.throttle_user_rate,
        throttle_user_burst=args.throttle_user_burst,
        soak_s=args.soak,
        soak_user_rate_per_s=args.soak_user_rate,
        modes=modes,
        out=Path(args.out),
        chart=not args.no_chart,
        install=not args.no_install,
        redis_url=os.environ.get("REDIS_URL", ""),
        redis_server=os.environ.get("REDIS_SERVER", ""),
        service_path=str(Path(args.service_path).resolve()) if args.service_path else "",
        nginx=nginx,
        proxy_skipped=proxy_skipped,
    )


def _modes(raw: str) -> list[str]:
    modes = [m for m in raw.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown mode {unknown}; choose from {','.join(MODES)}")
    return modes


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="a ~30 s run with less data")
    p.add_argument("--duration", type=float, help="seconds per warm/baseline measurement (15)")
    p.add_argument("--short", type=float, help="seconds per throttle/cold measurement (8)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up per server (3)")
    p.add_argument("--rounds", type=int, help="turns of baseline and service warm runs (3)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        help="seconds, in all, to wait for other work on the machine to stop before runs (60)",
    )
    p.add_argument("--users", type=int, help="users to seed (1000)")
    p.add_argument("--devices", type=int, help="devices per user (4)")
    p.add_argument("--cold-tokens", type=int, help="never-used tokens for the cold mode (24000)")
    p.add_argument(
        "--workers",
        type=lambda s: [int(x) for x in s.split(",")],
        help="worker counts to measure, comma-separated (1,<cores>)",
    )
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    p.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    p.add_argument(
        "--low-connections",
        type=int,
        default=10,
        help="wrk connections of the c10 mode, service and baseline (10)",
    )
    p.add_argument("--list-users", type=int, help="list mode: users to seed (20)")
    p.add_argument("--list-devices", type=int, default=60, help="list mode: devices per user (60)")
    p.add_argument(
        "--spare-devices",
        type=int,
        help="confirm and forget modes: unconfirmed devices, each used once (20000)",
    )
    p.add_argument(
        "--signout-users",
        type=int,
        help="signout mode: throwaway users, each signed out once (8000)",
    )
    p.add_argument(
        "--scale-tokens",
        type=int,
        help="scale mode: distinct warm tokens (40000; the route cache holds 16384)",
    )
    p.add_argument(
        "--signin-users",
        type=int,
        help="password, refresh and srp modes: users with a password and a refresh token (200)",
    )
    p.add_argument(
        "--srp-procs",
        type=int,
        help="srp mode: processes of the Python load generator (<cores>)",
    )
    p.add_argument(
        "--srp-connections",
        type=int,
        default=16,
        help="srp mode: sign-ins in flight over all its processes (16)",
    )
    p.add_argument(
        "--memory-users",
        type=int,
        help="memory mode: users, each with one device and one cached token (2000)",
    )
    p.add_argument(
        "--paced-rate",
        type=float,
        default=5000.0,
        help="req/s the paced mode offers over all its connections (5000)",
    )
    p.add_argument(
        "--user-rate",
        type=float,
        default=1000.0,
        help="USER_RATE_PER_S for the service under test (1000)",
    )
    p.add_argument("--user-burst", type=int, default=1000, help="USER_BURST (1000)")
    p.add_argument(
        "--route-cache-size",
        type=int,
        default=0,
        help="ROUTE_CACHE_SIZE of the service under test; 0: the service's default (0)",
    )
    p.add_argument(
        "--throttle-user-rate",
        type=float,
        default=0.0,
        help="run the throttle mode on its own service with this USER_RATE_PER_S (a rate far "
        "below any load, such as 0.001, throttles it at any speed); 0: the same service (0)",
    )
    p.add_argument(
        "--throttle-user-burst",
        type=int,
        default=1,
        help="USER_BURST of the throttle mode's own service (1)",
    )
    p.add_argument(
        "--soak",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also run a soak of mixed traffic for SECONDS (e.g. 120)",
    )
    p.add_argument(
        "--soak-user-rate",
        type=int,
        default=100,
        help="USER_RATE_PER_S and USER_BURST during the soak (100)",
    )
    p.add_argument(
        "--modes",
        type=_modes,
        help="comma-separated subset of " + ",".join(MODES),
    )
    p.add_argument(
        "--service-path",
        help="measure the `service` package in this directory instead (e.g. another worktree)",
    )
    p.add_argument("--out", default=str(RESULTS), help="results directory (bench/results)")
    p.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    p.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    return p
