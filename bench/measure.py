"""One measured wrk run, with what it cost: server and Redis CPU, RSS, Redis commands, and how
busy the rest of the machine was meanwhile. Rounds of the same run merge into one entry."""

from __future__ import annotations

import resource
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psutil

from . import loadgen, redisd
from .loadgen import Load
from .procs import Usage
from .redisd import RedisUnderTest

# Raw totals that add up across rounds; the per-request figures are derived from them.
_SUMMED = (
    "server_reads",
    "server_writes",
    "duration_s",
    "requests",
    "sent",
    "server_cpu_s",
    "redis_cpu_s",
    "wrk_cpu_s",
    "other_cpu_s",
    "steal_s",
    "waited_for_quiet_s",
    "proxy_cpu_s",  # only in runs through the proxy
)
NOISY_CORES = 0.25  # other processes using more than this makes a run's numbers suspect


@dataclass
class Server:
    """A server under load: the baseline, the service with `workers` processes, or the service
    behind nginx ("proxy": `url` is nginx's, `pids` the service's, `proxy_pids` nginx's)."""

    kind: str  # "baseline", "service" or "proxy"
    workers: int
    url: str
    pids: list[int]
    proxy_pids: list[int] = field(default_factory=list)
    # A service worker of its own for some modes (Mode.worker); None: the pass's.
    worker: str | None = None
    log: str = ""  # the child's log name (Children), for a failed run's message


def _system() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy, and stolen by the hypervisor."""
    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
    return busy, getattr(t, "steal", 0.0)


def wait_quiet(max_wait_s: float, sample_s: float = 0.5) -> float:
    """Wait (at most `max_wait_s`) until the machine is idle but for us; return seconds waited.

    Called between runs, when our own servers are idle: what is busy then is other work (other
    sessions' test suites on a shared machine), which would slow whatever we measure next."""
    waited = 0.0
    while True:
        busy0, _ = _system()
        time.sleep(sample_s)
        busy1, _ = _system()
        if (busy1 - busy0) / sample_s <= NOISY_CORES or waited >= max_wait_s:
            return waited
        waited += sample_s


def _children_cpu() -> float:
    # wrk is our only child that exits (and is reaped) during a measurement.
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(
    wrk: str,
    load: Load,
    server: Server,
    mode: str,
    redis: RedisUnderTest,
    allowed: frozenset[str],
) -> dict[str, Any]:
    """Drive `server` with `load`; return the entry for this run."""
    usage = Usage(server.pids)
    redis_usage = Usage([redis.pid]) if redis.pid else None
    proxy_usage = Usage(server.proxy_pids) if server.proxy_pids else None
    stats0 = redis.commandstats()
    rss0 = usage.rss_mib()
    io0 = usage.syscalls()
    cpu0, rcpu0 = usage.cpu_s(), redis_usage.cpu_s() if redis_usage else 0.0
    pcpu0 = proxy_usage.cpu_s() if proxy_usage else 0.0
    busy0, steal0, kids0 = *_system(), _children_cpu()
    result = loadgen.run_wrk(wrk, server.url, load)
    busy1, steal1, kids1 = *_system(), _children_cpu()
    cpu1, rcpu1 = usage.cpu_s(), redis_usage.cpu_s() if redis_usage else 0.0
    pcpu1 = proxy_usage.cpu_s() if proxy_usage else 0.0
    rss1 = usage.rss_mib()
    io1 = usage.syscalls()
    stats1 = redis.commandstats()
    label = f"{mode} x{server.workers}"
    if server.kind == "baseline":
        label = "baseline" if mode == "warm" else f"baseline {mode}"
    proxy_cpu = pcpu1 - pcpu0
    entry: dict[str, Any] = {
        "label": label,
        "server": server.kind,
        "mode": mode,
        "workers": server.workers,
    }
    entry.update(result)
    server_cpu, redis_cpu, wrk_cpu = cpu1 - cpu0, rcpu1 - rcpu0, kids1 - kids0
    entry.update(
        server_cpu_s=server_cpu,
        redis_cpu_s=redis_cpu,
        wrk_cpu_s=wrk_cpu,
        # Everything else the machine did meanwhile: other sessions' tests, the harness itself.
        other_cpu_s=max(0.0, (busy1 - busy0) - server_cpu - redis_cpu - wrk_cpu - proxy_cpu),
        steal_s=steal1 - steal0,
        server_reads=io1[0] - io0[0],
        server_writes=io1[1] - io0[1],
        rss_mib={"before": rss0, "after": rss1},
        allowed=sorted(allowed),
    )
    if proxy_usage:
        entry["proxy_cpu_s"] = proxy_cpu
    if server.kind in ("service", "proxy"):
        entry["redis_delta"] = {
            k: stats1.get(k, 0) - stats0.get(k, 0) for k in stats1 if stats1[k] != stats0.get(k)
        }
    return finish(entry)


def finish(entry: dict[str, Any]) -> dict[str, Any]:
    """Derive the per-request and per-second figures from the raw totals."""
    requests = max(entry["requests"], 1)
    seconds = max(entry["duration_s"], 1e-9)
    entry["server_cpu_us_per_request"] = round(entry["server_cpu_s"] / requests * 1e6, 1)
    entry["server_cores_busy"] = round(entry["server_cpu_s"] / seconds, 2)
    if "proxy_cpu_s" in entry:
        entry["proxy_cpu_us_per_request"] = round(entry["proxy_cpu_s"] / requests * 1e6, 1)
        entry["proxy_cores_busy"] = round(entry["proxy_cpu_s"] / seconds, 2)
    entry["redis_cpu_us_per_request"] = round(entry["redis_cpu_s"] / requests * 1e6, 1)
    entry["wrk_cores_busy"] = round(entry["wrk_cpu_s"] / seconds, 2)
    entry["other_cores_busy"] = round(entry["other_cpu_s"] / seconds, 2)
    entry["steal_cores"] = round(entry["steal_s"] / seconds, 2)
    # Socket reads and writes are system calls; each costs several microseconds.
    entry["server_syscalls_per_request"] = {
        "read": round(entry["server_reads"] / requests, 2),
        "write": round(entry["server_writes"] / requests, 2),
    }
    if "redis_delta" in entry:
        # Every token sent counts, answered or not: the server did the work for each.
        entry["redis_commands"] = redisd.commands_per_request(entry["redis_delta"], entry["sent"])
    entry["unexpected"] = loadgen.unexpected(entry, frozenset(entry["allowed"]))
    return entry


def merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One entry for several rounds of the same run: totals add up, latencies are the median
    round's (percentiles of different runs cannot be merged exactly), RSS spans all rounds."""
    if len(rounds) == 1:
        return rounds[0]
    first, last = rounds[0], rounds[-1]
    merged = {k: v for k, v in first.items() if k not in _SUMMED}
    for key in _SUMMED:
        if key in first:
            merged[key] = sum(r[key] for r in rounds)
    merged["rps"] = round(merged["requests"] / max(merged["duration_s"], 1e-9), 1)
    merged["latency_ms"] = {
        k: (max if k == "max" else statistics.median)(r["latency_ms"][k] for r in rounds)
        for k in first["latency_ms"]
    }
    for key in ("answers", "socket_errors"):
        total: Counter[str] = Counter()
        for r in rounds:
            total.update(r[key])
        merged[key] = dict(sorted(total.items()))
    if "redis_delta" in first:
        delta: Counter[str] = Counter()
        for r in rounds:
            delta.update(r["redis_delta"])
        merged["redis_delta"] = dict(delta)
    merged["rss_mib"] = {"before": first["rss_mib"]["before"], "after": last["rss_mib"]["after"]}
    merged["rounds"] = [
        {
            "rps": r["rps"],
            "p99_ms": r["latency_ms"]["p99"],
            "other_cores_busy": r["other_cores_busy"],
        }
        for r in rounds
    ]
    return finish(merged)


def say(e: dict[str, Any]) -> None:
    """One line per run on the console."""
    cmds = e.get("redis_commands", {}).get("per_request")
    parts = [
        f"  {e['label']:<12} {e['rps']:>9,.0f} req/s",
        f"p99 {e['latency_ms']['p99']:6.2f} ms",
        f"{e['server_cpu_us_per_request']:4.0f} us CPU/req",
    ]
    if "proxy_cpu_us_per_request" in e:
        parts.append(f"+ nginx {e['proxy_cpu_us_per_request']:.0f} us CPU/req")
    if cmds is not None:
        parts.append(f"{cmds:.2f} Redis cmds/req")
    if e["other_cores_busy"] > NOISY_CORES:
        parts.append(f"(machine busy: {e['other_cores_busy']:.2f} other cores)")
    if e["unexpected"]:
        parts.append(f"UNEXPECTED: {e['unexpected']}")
    print(", ".join(parts), flush=True)
