"""A pass: the modes (bench/modes.py) on one worker count, the services they need started, the
warm runs taking turns with the baseline's, and the short runs one by one."""

from __future__ import annotations

import dataclasses
import subprocess
from typing import Any

from . import proxy
from .harness import Bench
from .measure import Server, merge
from .modes import MODES


def run_pass(
    bench: Bench,
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
    asked = bench.plan.modes if modes is None else modes
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
            proc, baseline = bench.start_baseline()
            procs.append(proc)
            servers.append(baseline)
        if any(MODES[m].worker is None for m in modes):
            proc, service = bench.start_service(workers)
            procs.append(proc)
            servers.append(service)
            if with_proxy:
                front = bench.start_proxy(service)
                pids = service.pids
                servers.append(
                    Server("proxy", workers, front.url, pids, front.pids, log=front.name)
                )
        for worker in dict.fromkeys(MODES[m].worker for m in modes if MODES[m].worker):
            proc, own = bench.start_service(workers)
            procs.append(proc)
            servers.append(dataclasses.replace(own, worker=worker))
        names = " and ".join(f"{s.kind} (pids {s.proxy_pids or s.pids})" for s in servers)
        print(f"{names}: warm-up {bench.plan.warmup_s:g}s each", flush=True)
        for server in servers:
            bench.warm_up(server)
        runs = _pass_runs(servers, modes)
        in_turns(bench, [(n, s) for n, s in runs if MODES[n].in_turns])
        for name, server in runs:
            if not MODES[name].in_turns:
                bench.keep(measure_once(bench, name, server, workers))
    finally:
        if front is not None:
            proxy.stop(bench.children, front)
        for proc in procs:
            bench.children.stop(proc)
    if any(MODES[m].fresh_tokens for m in modes):
        bench.reset_cold()


def in_turns(bench: Bench, runs: list[tuple[str, Server]]) -> None:
    """Rounds of `runs` in turns, duration_s each in all; keep each one's merged entry."""
    rounds = bench.plan.rounds if len(runs) > 1 else 1
    entries: list[list[dict[str, Any]]] = [[] for _ in runs]
    for _ in range(rounds):
        for (mode, server), kept in zip(runs, entries, strict=True):
            kept.append(bench.measure(server, mode, bench.plan.duration_s / rounds))
    for kept in entries:
        bench.keep(merge(kept))


def measure_once(bench: Bench, mode: str, server: Server, workers: int) -> dict[str, Any]:
    """One short_s run: on `server`, or on a service of its own if the mode asks for one."""
    env = MODES[mode].own_service(bench.plan)
    if not env:
        return bench.measure(server, mode, bench.plan.short_s)
    proc, own = bench.start_service(workers, **env)
    try:
        return bench.measure(own, mode, bench.plan.short_s)
    finally:
        bench.children.stop(proc)


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
