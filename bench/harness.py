"""The run's state and its processes: the Redis, the seed, the services, baseline and nginx it
starts, and each measurement kept. The passes (bench/passes.py) and the extra phases
(bench/phases.py) drive it; bench/run.py puts them in order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from service.runtime.settings import ENV_VARS, Settings

from . import loadgen, machine, proxy, redisd, seed
from .loadgen import Load
from .measure import Server, measure, say, wait_quiet
from .modes import MODES
from .plan import Plan
from .procs import BenchError, Children, wait_http, wait_line, wait_workers

PROJECT = machine.PROJECT


class Bench:
    """One run: the Redis, the seed, the child processes and the entries measured so far."""

    def __init__(self, plan: Plan, children: Children, tmp: Path) -> None:
        self.plan = plan
        self.children = children
        self.tmp = tmp
        self.entries: list[dict[str, Any]] = []
        self.wrk = loadgen.find_wrk(install=plan.install)
        (tmp / "redis").mkdir()
        self.redis = redisd.start_redis(children, tmp / "redis", plan.redis_url, plan.redis_server)
        self.service_env = {
            "REDIS_URL": self.redis.url,
            "DATA_DIR": str(tmp / "data"),
            # High enough that warm traffic spread over every user is never throttled; the
            # throttle mode still drains its one user's bucket at once.
            "USER_RATE_PER_S": str(plan.user_rate_per_s),
            "USER_BURST": str(plan.user_burst),
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "0",
        }
        if plan.route_cache_size:
            self.service_env["ROUTE_CACHE_SIZE"] = str(plan.route_cache_size)
        self.settings = Settings.from_env(self.service_env)
        self.seed: seed.Seed | None = None
        self.proxy_info: dict[str, Any] = {}
        self._started = 0
        self.quiet_left_s = plan.quiet_wait_s

    # -- processes -----------------------------------------------------------------------
    def _env(self, **overrides: str) -> dict[str, str]:
        # The service reads only what we set: drop any service variable from our environment.
        env = {k: v for k, v in os.environ.items() if k not in ENV_VARS.values()}
        env.update(self.service_env, **overrides)
        # The service under test first (--service-path), then this checkout (for bench itself).
        paths = [self.plan.service_path, str(PROJECT), env.get("PYTHONPATH")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        return env

    def start_service(self, workers: int, **env: str) -> tuple[subprocess.Popen[bytes], Server]:
        self._started += 1
        name = f"service-w{workers}-{self._started}"
        args = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", "0"]
        argv = [*args, "--workers", str(workers)]
        # `python -m` puts its working directory first on sys.path: run where the service is.
        cwd = Path(self.plan.service_path) if self.plan.service_path else PROJECT
        proc = self.children.start(name, argv, self._env(**env), cwd)
        found = wait_line(self.children, name, proc, r"serving Cognito GetDevice on (\S+)", 60)
        url = found.group(1)
        pids = wait_workers(proc.pid, int(url.rsplit(":", 1)[1]), workers, 60)
        wait_http(url + "/readyz", 30, proc)
        return proc, Server("service", workers, url, pids, log=name)

    def start_baseline(self) -> tuple[subprocess.Popen[bytes], Server]:
        assert self.seed is not None
        args = [sys.executable, "-m", "bench.baseline", "--sample", str(self.seed.sample_file)]
        proc = self.children.start("baseline", args, self._env(), PROJECT)
        url = wait_line(self.children, "baseline", proc, r"serving baseline on (\S+)", 30).group(1)
        wait_http(url + "/readyz", 30, proc)
        return proc, Server("baseline", 1, url, [proc.pid], log="baseline")

    # -- measuring -----------------------------------------------------------------------
    def load(self, mode: str, seconds: float) -> Load:
        assert self.seed is not None
        p = self.plan
        m = MODES[mode]
        connections = m.connections(p) if m.connections else p.connections
        return Load(m.script, m.args(self.seed, p), seconds, p.threads, connections, m.consumes)

    def measure(self, server: Server, mode: str, seconds: float) -> dict[str, Any]:
        waited = wait_quiet(self.quiet_left_s)
        self.quiet_left_s -= waited
        load = self.load(mode, seconds)
        try:
            entry = measure(self.wrk, load, server, mode, self.redis, MODES[mode].allowed)
        except BenchError as exc:
            raise BenchError(
                f"{mode} on {server.kind} {server.url}: {exc}\n{self.state(server)}"
            ) from None
        entry["waited_for_quiet_s"] = waited
        return entry

    def state(self, server: Server) -> str:
        """Whether `server`'s processes still run, and its log's end: what a failed run says."""
        status = {pid: _status(pid) for pid in server.proxy_pids or server.pids}
        return f"its processes: {status}; {server.log}'s log ends:\n" + (
            self.children.log_tail(server.log) if server.log else ""
        )

    def keep(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.entries.append(entry)
        say(entry)
        return entry

    def warm_up(self, server: Server) -> None:
        """warmup_s of warm traffic; on a worker of some modes' own, of each of theirs."""
        own = [m for m, mode in MODES.items() if server.worker and mode.worker == server.worker]
        for mode in own or ["warm"]:
            loadgen.run_wrk(self.wrk, server.url, self.load(mode, self.plan.warmup_s))

    # -- the seed ------------------------------------------------------------------------
    def do_seed(self) -> None:
        p = self.plan
        print(f"seeding {p.users} users x {p.devices} devices, {p.cold_tokens} cold tokens")
        ttl_s = int(max(3600, p.soak_s + 3600))
        asked = set(p.modes)
        extra = seed.Extra(
            list_users=p.list_users if "list" in asked else 0,
            list_devices=p.list_devices,
            spare_devices=p.spare_devices if asked & {"confirm", "forget"} else 0,
            signout_users=p.signout_users if "signout" in asked else 0,
            scale_tokens=p.scale_tokens if "scale" in asked else 0,
            signin_users=p.signin_users if asked & {"password", "refresh", "srp"} else 0,
        )
        self.seed = seed.seed(
            self.redis.url,
            self.settings,
            users=p.users,
            devices=p.devices,
            cold=p.cold_tokens,
            ttl_s=ttl_s,
            out=self.tmp,
            extra=extra,
        )
        print(f"  seeded in {self.seed.seconds:.1f}s (pool {self.seed.pool_id})", flush=True)

    # -- nginx and the cold tokens --------------------------------------------------------
    def start_proxy(self, service: Server) -> proxy.Proxy:
        """nginx with deploy/nginx.conf in front of `service`, on a free loopback port."""
        binary = self.plan.nginx
        upstream = service.url.split("://", 1)[-1]
        front = proxy.start(self.children, binary, upstream, f"nginx-{self._started}")
        self.proxy_info = {
            "nginx": proxy.nginx_version(binary),
            "binary": binary,
            "config": str(proxy.TEMPLATE.relative_to(PROJECT)),
            "upstream": upstream,
            "nginx_workers": len(front.pids) - 1,
        }
        return front

    def reset_cold(self) -> None:
        """Forget the cold tokens' cached claims, so the next pass finds them cold again."""
        assert self.seed is not None
        keys = self.seed.cold_claims_keys
        for i in range(0, len(keys), 1000):
            self.redis.client.delete(*keys[i : i + 1000])


def _status(pid: int) -> str:
    try:
        return str(psutil.Process(pid).status())
    except psutil.Error:
        return "gone"
