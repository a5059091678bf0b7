"""`python -m bench.run`: GetDevice under wrk, side by side with a bare-aiohttp baseline.

One command, bounded in time, loopback only. It starts its own redis-server (or uses REDIS_URL),
seeds users, devices and tokens through the service's own code, measures the baseline and the
service (1 and N workers; warm, throttle and cold traffic), asks redis-benchmark for the Redis
ceiling, and writes bench/results/<timestamp>.{json,md,png}. Every child process is stopped on
exit, Ctrl-C included. See bench/README.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from service.redis_io import lua
from service.runtime.settings import ENV_VARS, Settings

from . import loadgen, machine, memory, proxy, redisd, report, seed
from .loadgen import Load
from .measure import Server, measure, merge, say, wait_quiet
from .modes import MODES
from .plan import Plan, build_parser, plan_from
from .procs import BenchError, Children, Usage, wait_http, wait_line, wait_workers

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

    # -- phases --------------------------------------------------------------------------
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

    def do_service(
        self,
        workers: int,
        with_baseline: bool,
        with_proxy: bool = False,
        modes: list[str] | None = None,
        first_pass: bool = True,
    ) -> None:
        """One pass of the modes (bench/modes.py) on `workers` workers. With the baseline, its
        warm runs take turns with the service's, so that a busy machine slows both alike. With
        the proxy, nginx (deploy/nginx.conf) in front of the same service takes its turn too:
        warm traffic through nginx, next to the direct warm run it is compared with."""
        asked = self.plan.modes if modes is None else modes
        modes = [
            m
            for m, mode in MODES.items()
            if "service" in mode.servers
            and (m in asked or mode.runs_with in asked)
            and (first_pass or not mode.first_pass_only)
        ]
        if with_proxy and "warm" not in modes:
            modes.insert(0, "warm")  # the proxy's ratio is to a direct warm run of this pass
        if not modes and not with_baseline:
            return
        procs: list[subprocess.Popen[bytes]] = []
        front: proxy.Proxy | None = None
        try:
            servers: list[Server] = []
            if with_baseline:
                proc, baseline = self.start_baseline()
                procs.append(proc)
                servers.append(baseline)
            if any(MODES[m].worker is None for m in modes):
                proc, service = self.start_service(workers)
                procs.append(proc)
                servers.append(service)
                if with_proxy:
                    front = self.start_proxy(service)
                    pids = service.pids
                    servers.append(
                        Server("proxy", workers, front.url, pids, front.pids, log=front.name)
                    )
            for worker in dict.fromkeys(MODES[m].worker for m in modes if MODES[m].worker):
                proc, own = self.start_service(workers)
                procs.append(proc)
                servers.append(dataclasses.replace(own, worker=worker))
            names = " and ".join(f"{s.kind} (pids {s.proxy_pids or s.pids})" for s in servers)
            print(f"{names}: warm-up {self.plan.warmup_s:g}s each", flush=True)
            for server in servers:
                self.warm_up(server)
            runs = _pass_runs(servers, modes)
            self.in_turns([(n, s) for n, s in runs if MODES[n].in_turns])
            for name, server in runs:
                if not MODES[name].in_turns:
                    self.keep(self.measure_once(name, server, workers))
        finally:
            if front is not None:
                proxy.stop(self.children, front)
            for proc in procs:
                self.children.stop(proc)
        if any(MODES[m].fresh_tokens for m in modes):
            self.reset_cold()

    def in_turns(self, runs: list[tuple[str, Server]]) -> None:
        """Rounds of `runs` in turns, duration_s each in all; keep each one's merged entry."""
        rounds = self.plan.rounds if len(runs) > 1 else 1
        entries: list[list[dict[str, Any]]] = [[] for _ in runs]
        for _ in range(rounds):
            for (mode, server), kept in zip(runs, entries, strict=True):
                kept.append(self.measure(server, mode, self.plan.duration_s / rounds))
        for kept in entries:
            self.keep(merge(kept))

    def measure_once(self, mode: str, server: Server, workers: int) -> dict[str, Any]:
        """One short_s run: on `server`, or on a service of its own if the mode asks for one."""
        env = MODES[mode].own_service(self.plan)
        if not env:
            return self.measure(server, mode, self.plan.short_s)
        proc, own = self.start_service(workers, **env)
        try:
            return self.measure(own, mode, self.plan.short_s)
        finally:
            self.children.stop(proc)

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

    def do_redis_ceiling(self) -> dict[str, Any]:
        assert self.seed is not None
        script = lua.GET_DEVICE
        big = "1000000000"  # rate and burst: never throttled, so the script takes its full path
        keys = self.seed.probe_keys
        # TokenStep.run's warm call: the read bucket, rate, burst, skew, store=0 and five blanks.
        args = ["bucket", big, big, "0", "0", "", "", "", "", ""]
        self.redis.client.script_load(script.source)  # no service may have run yet
        probe = self.redis.client.evalsha(script.sha, len(keys), *keys, *args)
        if not probe or probe[0] != b"OK":
            return {"skipped": f"get_device.lua answered {probe!r}, not OK"}
        command = ["EVALSHA", script.sha, str(len(keys)), *keys, *args]
        # About short_s seconds each at the ~10-20k scripts/s a small machine runs.
        n = int(10_000 * self.plan.short_s)
        url = self.redis.url
        print("redis ceiling: redis-benchmark EVALSHA get_device.lua", flush=True)
        self.quiet_left_s -= wait_quiet(self.quiet_left_s)
        runs = {
            "c50": redisd.redis_benchmark(url, command, clients=50, pipeline=1, requests=n),
            "c2_p32": redisd.redis_benchmark(url, command, clients=2, pipeline=32, requests=2 * n),
        }
        if runs["c50"] is None:
            return {"skipped": "redis-benchmark not found (apt-get install redis-tools)"}
        for name, r in runs.items():
            if r and "rps" in r:
                print(f"  {name:<12} {r['rps']:>9,.0f} EVALSHA/s", flush=True)
        return runs

    def do_memory(self) -> dict[str, Any]:
        """Redis bytes per active user (bench/memory.py): N users with one device each, then
        one GetDevice each through a 1-worker service (a cold request: verify, cache)."""
        assert self.seed is not None
        p = self.plan
        n = p.memory_users
        print(f"memory: {n} users, one device and one GetDevice each", flush=True)
        # Our own Redis: database 1, a keyspace of its own. An external one: its own database.
        url = self.redis.url
        if self.redis.pid is not None:
            url = url.rsplit("/", 1)[0] + "/1"
        proc, server = self.start_service(1, REDIS_URL=url)
        try:
            rows, users, devices, before, keys_before = memory.seed_users(
                url, self.settings, n, 3600, self.tmp
            )
            # One GetDevice per user (a cold request: the token is verified and cached).
            answers = memory.get_each(server.url, rows)
        finally:
            self.children.stop(proc)
        first_token = rows.read_text().split("\t", 1)[0]
        out = memory.result(url, self.settings, users, devices, first_token, before, keys_before)
        bad = {k: v for k, v in answers.items() if k != "OK"}
        out["answers"] = answers
        out["unexpected"] = bad
        print(
            f"  {out['bytes_per_user']:,.0f} bytes per active user "
            f"({out['keys_per_user']:g} keys each; MEMORY USAGE of one user's keys: "
            f"{out['memory_usage_sum']:,} bytes)" + (f" UNEXPECTED {bad}" if bad else ""),
            flush=True,
        )
        return out

    def do_soak(self) -> dict[str, Any]:
        p = self.plan
        print(f"soak: {p.soak_s:.0f}s of valid, invalid and throttled traffic, 1 worker")
        # A lower rate than the other modes', so that the hammered user's share of the traffic
        # is throttled while the valid traffic, spread over every user, is not.
        rate = str(p.soak_user_rate_per_s)
        proc, server = self.start_service(1, USER_RATE_PER_S=rate, USER_BURST=rate)
        usage = Usage(server.pids)
        try:
            self.warm_up(server)
            rss0 = usage.rss_mib()
            chunk_s = max(5.0, min(30.0, p.soak_s / 8))
            chunks: list[dict[str, Any]] = []
            series: list[dict[str, Any]] = []
            started = time.monotonic()
            while (left := p.soak_s - (time.monotonic() - started)) >= 1:
                e = self.measure(server, "soak", min(chunk_s, left))
                chunks.append(e)
                series.append(
                    {
                        "t_s": round(time.monotonic() - started, 1),
                        "rps": e["rps"],
                        "p99_ms": e["latency_ms"]["p99"],
                        "rss_mib": round(sum(usage.rss_mib().values()), 2),
                        "unexpected": e["unexpected"],
                    }
                )
            rss1 = usage.rss_mib()
        finally:
            self.children.stop(proc)
        if chunks:
            self.keep(merge(chunks))
        before, after = sum(rss0.values()), sum(rss1.values())
        return {
            "seconds": p.soak_s,
            "user_rate_per_s": p.soak_user_rate_per_s,
            "rss_mib_before": rss0,
            "rss_mib_after": rss1,
            "rss_growth_pct": round((after - before) / before * 100, 2) if before else None,
            "series": series,
        }


def _status(pid: int) -> str:
    try:
        return str(psutil.Process(pid).status())
    except psutil.Error:
        return "gone"


def _pass_runs(servers: list[Server], modes: list[str]) -> list[tuple[str, Server]]:
    """(mode, server) for each run of a pass, in the order of MODES, then of `servers`."""
    # The baseline's warm run is the baseline; the proxy's one mode is its own.
    # A mode with a worker of its own (Mode.worker) runs on that service only.
    wanted = {"baseline": ["warm", *modes], "service": modes, "proxy": ["proxy"]}
    return [
        (name, server)
        for name, mode in MODES.items()
        for server in servers
        if server.kind in mode.servers
        and name in wanted[server.kind]
        and mode.worker == server.worker
    ]


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
        bench.do_service(
            workers,
            with_baseline=i == 0 and "baseline" in plan.modes,
            with_proxy=with_proxy and workers == 1,
            first_pass=i == 0,
        )
    if with_proxy and 1 not in plan.workers:
        # The proxy is measured in front of one worker, next to a direct warm run of it.
        bench.do_service(1, with_baseline=False, with_proxy=True, modes=[])
    if with_proxy:
        results["proxy"] = bench.proxy_info
    elif plan.proxy_skipped:
        results["proxy"] = {"skipped": plan.proxy_skipped}
    if "memory" in plan.modes:
        results["memory"] = bench.do_memory()
    if "redis" in plan.modes:
        results["redis_ceiling"] = bench.do_redis_ceiling()
    if "soak" in plan.modes and plan.soak_s > 0:
        results["soak"] = bench.do_soak()
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
