"""The Markdown's head and body: machine and load, the targets table, the runs table, the notes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..measure import NOISY_CORES
from .ratios import find_run


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def head(results: dict[str, Any]) -> list[str]:
    m, plan = results["machine"], results["plan"]
    v = m["versions"]
    return [
        f"# GetDevice benchmark, {results['timestamp']}",
        "",
        f"- Machine: {m['cpu_model']}, {m['cores_logical']} logical cores, "
        f"{m['memory_gib']} GiB; kernel {m['kernel']}; load average at start "
        f"{m['load_average_at_start']}, at end {results.get('load_average_at_end')}",
        f"- Versions: Python {v['python']}, aiohttp {v['aiohttp']}, uvloop {v['uvloop']}, "
        f"hiredis {v['hiredis']}, redis-py {v['redis']}, orjson {v['orjson']}, "
        f"Redis server {v['redis_server']}, {v.get('wrk')}",
        f"- Code: {m['code']['commit']}"
        + (" (service/ has uncommitted changes)" if m["code"]["dirty"] else ""),
        f"- Load: wrk -t{plan['threads']} -c{plan['connections']}; "
        f"{plan['duration_s']:g} s warm/baseline, {plan['short_s']:g} s throttle/cold, "
        f"{plan['warmup_s']:g} s warm-up; {plan['users']} users x {plan['devices']} devices, "
        f"{plan['cold_tokens']} cold tokens; USER_RATE_PER_S={plan['user_rate_per_s']:g}, "
        f"USER_BURST={plan['user_burst']}"
        + (f", ROUTE_CACHE_SIZE={plan['route_cache_size']}" if plan.get("route_cache_size") else "")
        + f"; whole run {results['seconds']} s",
    ]


def targets_table(results: dict[str, Any]) -> list[str]:
    lines = ["", "## Targets", "", "| | target | measured | |", "|---|---|---|---|"]
    for t in results["summary"]["targets"]:
        lines.append(
            f"| {t['name']} | {t['target']} | {_fmt(t['value'])} | "
            f"{'met' if t['met'] else '**missed**'} |"
        )
    return lines


Row = dict[str, Any]


def _vs_baseline(r: Row, base: float | None) -> str:
    return f"{r['rps'] / base:.2f}" if base and r["mode"] in ("warm", "proxy") else ""


def _vs_own_baseline(results: dict[str, Any]) -> Callable[[Row, float | None], str]:
    """The vs-baseline cell: warm and proxy against the baseline, c10 against the baseline at
    as few connections."""
    low = find_run(results, "c10", 1, "baseline")

    def cell(r: Row, base: float | None) -> str:
        if r["mode"] == "c10" and low:
            return f"{r['rps'] / low['rps']:.2f}"
        return _vs_baseline(r, base)

    return cell


def _cmds(r: Row, base: float | None) -> str:
    cmds = r.get("redis_commands", {}).get("per_request")
    return "" if cmds is None else f"{cmds:.2f}"


def _syscalls(r: Row, base: float | None) -> str:
    calls = r["server_syscalls_per_request"]
    return f"{calls['read']:.2f}+{calls['write']:.2f}"


def _rss(r: Row, base: float | None) -> str:
    rss = r["rss_mib"]
    return f"{sum(rss['before'].values()):.1f} -> {sum(rss['after'].values()):.1f}"


def _answers(r: Row, base: float | None) -> str:
    answers = ", ".join(f"{k} {n:,}" for k, n in r["answers"].items())
    if r["unexpected"]:
        answers += f" **UNEXPECTED {r['unexpected']}**"
    return answers


def _latency(p: str) -> Callable[[Row, float | None], str]:
    return lambda r, base: f"{r['latency_ms'][p]:.2f}"


# The runs table: heading, alignment and cell of each column (`base`: the baseline's req/s).
_RUN_COLUMNS: tuple[tuple[str, str, Callable[[Row, float | None], str]], ...] = (
    ("run", "---", lambda r, base: str(r["label"])),
    ("req/s", "---:", lambda r, base: f"{r['rps']:,.0f}"),
    ("vs baseline", "---:", _vs_baseline),
    ("p50", "---:", _latency("p50")),
    ("p90", "---:", _latency("p90")),
    ("p99", "---:", _latency("p99")),
    ("p99.9 ms", "---:", _latency("p999")),
    ("Redis cmds/req", "---:", _cmds),
    ("server CPU us/req", "---:", lambda r, base: f"{r['server_cpu_us_per_request']:.0f}"),
    ("syscalls r+w/req", "---:", _syscalls),
    ("server cores", "---:", lambda r, base: f"{r['server_cores_busy']:.2f}"),
    (
        "Redis cores",
        "---:",
        lambda r, base: f"{r['redis_cpu_s'] / max(r['duration_s'], 1e-9):.2f}",
    ),
    ("other cores", "---:", lambda r, base: f"{r['other_cores_busy']:.2f}"),
    ("RSS MiB before -> after", "---", _rss),
    ("answers", "---", _answers),
)


def runs_table(results: dict[str, Any]) -> list[str]:
    base = results["summary"].get("baseline_rps")
    lines = [
        "",
        "## Runs",
        "",
        "| " + " | ".join(name for name, _, _ in _RUN_COLUMNS) + " |",
        "|" + "|".join(align for _, align, _ in _RUN_COLUMNS) + "|",
    ]
    columns = [
        (name, align, _vs_own_baseline(results) if cell is _vs_baseline else cell)
        for name, align, cell in _RUN_COLUMNS
    ]
    for r in results["runs"]:
        lines.append("| " + " | ".join(cell(r, base) for _, _, cell in columns) + " |")
    return lines


def notes(results: dict[str, Any]) -> list[str]:
    s = results["summary"]
    lines = [
        "",
        "Cold runs: req/s is token verifications per second (each token used once). "
        "Other cores: CPU used meanwhile by processes that are neither wrk, the server nor "
        "Redis (other work on the machine); above "
        f"{NOISY_CORES} the run's numbers are suspect. wrk keeps {results['plan']['connections']} "
        "requests in flight, so mean latency is connections / throughput. Paced runs offer about "
        f"{results['plan'].get('paced_rate', 0):,.0f} req/s over the same connections (each "
        "waits between requests), so their latency is the answer's, not the queue's.",
    ]
    if s.get("warm_p99_vs_baseline") is not None:
        paced, base_paced = s.get("paced_p99_ms", {}).get("1"), s.get("baseline_paced_p99_ms")
        lines.append(
            f"p99 at saturation, warm x1 / baseline: {s['warm_p99_ms']['1']:.2f} / "
            f"{s['baseline_p99_ms']:.2f} ms = {s['warm_p99_vs_baseline']:.2f}"
            + (
                f"; paced, service {paced:.2f} ms, baseline {base_paced:.2f} ms."
                if paced is not None and base_paced is not None
                else "."
            )
        )
    if s.get("warm_cpu_vs_baseline"):
        lines.append(
            "Baseline CPU per request / service CPU per request (warm; the ratio with a core "
            f"each and nothing else running): {s['warm_cpu_vs_baseline']}."
        )
    if s.get("warm_vs_baseline_by_round"):
        lines.append(
            f"Warm x1 vs baseline, round by round: {s['warm_vs_baseline_by_round']}; median of "
            f"the rounds when the machine was otherwise idle: {s['warm_vs_baseline_quiet_rounds']}."
        )
    waited = sum(r.get("waited_for_quiet_s", 0.0) for r in results["runs"])
    if waited:
        lines.append(f"Waited {waited:g} s in all for other work on the machine to stop.")
    if s.get("noisy_runs"):
        lines.append(f"**Busy machine** during: {s['noisy_runs']} (other cores busy).")
    if s.get("scaling"):
        lines.append(f"Workers: warm throughput {s['scaling']}.")
    return lines
