"""Results: the headline numbers against the issue's targets, a Markdown summary and a chart."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from . import (
    TARGET_BYTES_PER_USER,
    TARGET_LIST_VS_GET,
    TARGET_P99_MS,
    TARGET_RATIO,
    TARGET_RSS_GROWTH_PCT,
    TARGET_SCALE_VS_WARM,
    chart,
)
from .measure import NOISY_CORES
from .modes import MIXED_GET_PCT, MIXED_LIST_PCT, SIGNIN_MODES, TOKEN_OP_MODES

# What each token-operation mode is, for the report.
OP_NAMES = {
    "warm": "GetDevice",
    "c10": "GetDevice, {c} connections",
    "list": "ListDevices, {d} devices",
    "update": "UpdateDeviceStatus",
    "mixed": f"mixed: {MIXED_GET_PCT} % GetDevice, {MIXED_LIST_PCT} % ListDevices, "
    f"{100 - MIXED_GET_PCT - MIXED_LIST_PCT} % UpdateDeviceStatus",
    "scale": "GetDevice, {t} distinct tokens (vs scale-base)",
    "scale-base": "GetDevice, one token per user, on scale's worker",
    "confirm": "ConfirmDevice (each of an unconfirmed device)",
    "forget": "ForgetDevice (each of a device)",
    "signout": "GlobalSignOut (each of a throwaway user)",
}


def _run(results: dict[str, Any], mode: str, workers: int, server: str = "service") -> Any:
    for r in results["runs"]:
        if r["server"] == server and r["mode"] == mode and r["workers"] == workers:
            return r
    return None


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers a reader wants first, and each target met or not."""
    runs = list(results["runs"])
    base = _run(results, "warm", 1, "baseline")
    workers = sorted({r["workers"] for r in runs if r["server"] == "service"})
    s: dict[str, Any] = {
        "ok": not any(r["unexpected"] for r in runs),
        "unexpected": {r["label"]: r["unexpected"] for r in runs if r["unexpected"]},
        "baseline_rps": base["rps"] if base else None,
        "warm_rps": {},
        "warm_vs_baseline": {},
        "warm_p99_ms": {},
        "cold_verifications_per_s": {},
        "redis_commands_per_request": {},
    }
    for w in workers:
        warm, cold = _run(results, "warm", w), _run(results, "cold", w)
        if warm:
            s["warm_rps"][str(w)] = warm["rps"]
            s["warm_p99_ms"][str(w)] = warm["latency_ms"]["p99"]
            if base:
                s["warm_vs_baseline"][str(w)] = round(warm["rps"] / base["rps"], 3)
                # CPU per request, baseline over service: what the ratio would be with a core
                # each and nothing else running. Steadier than req/s on a busy machine.
                s.setdefault("warm_cpu_vs_baseline", {})[str(w)] = round(
                    base["server_cpu_us_per_request"] / warm["server_cpu_us_per_request"], 3
                )
        if cold:
            s["cold_verifications_per_s"][str(w)] = cold["rps"]
        paced = _run(results, "paced", w)
        if paced:
            s.setdefault("paced_p99_ms", {})[str(w)] = paced["latency_ms"]["p99"]
            s.setdefault("paced_rps", {})[str(w)] = paced["rps"]
    base_paced = _run(results, "paced", 1, "baseline")
    if base_paced:
        s["baseline_paced_p99_ms"] = base_paced["latency_ms"]["p99"]
    if base and "1" in s["warm_p99_ms"]:
        # At saturation latency is queueing (connections / throughput): compare it with the
        # baseline's, which queues the same way.
        s["baseline_p99_ms"] = base["latency_ms"]["p99"]
        s["warm_p99_vs_baseline"] = round(s["warm_p99_ms"]["1"] / base["latency_ms"]["p99"], 3)
    w1, b = _run(results, "warm", 1), base
    if w1 and b and "rounds" in w1 and "rounds" in b:
        pairs = list(zip(w1["rounds"], b["rounds"], strict=False))
        s["warm_vs_baseline_by_round"] = [round(x["rps"] / y["rps"], 3) for x, y in pairs]
        quiet = [
            x["rps"] / y["rps"]
            for x, y in pairs
            if max(x["other_cores_busy"], y["other_cores_busy"]) <= NOISY_CORES
        ]
        # The fairest figure on a shared machine: rounds where nothing else was running.
        s["warm_vs_baseline_quiet_rounds"] = round(statistics.median(quiet), 3) if quiet else None
    s["noisy_runs"] = {
        r["label"]: r["other_cores_busy"] for r in runs if r["other_cores_busy"] > NOISY_CORES
    }
    first = workers[0] if workers else 1
    for r in runs:
        if r["server"] == "service" and r["workers"] == first and "redis_commands" in r:
            s["redis_commands_per_request"][r["mode"]] = r["redis_commands"]["per_request"]
    s.update(_token_ops(results, first))
    memory = results.get("memory")
    if memory:
        s["memory_bytes_per_user"] = memory["bytes_per_user"]
        if memory.get("unexpected"):
            s["ok"] = False
            s["unexpected"]["memory"] = memory["unexpected"]
    if len(s["warm_rps"]) > 1 and "1" in s["warm_rps"]:
        top = str(workers[-1])
        s["scaling"] = {f"{top}_vs_1": round(s["warm_rps"][top] / s["warm_rps"]["1"], 2)}
    ceiling = results.get("redis_ceiling") or {}
    if isinstance(ceiling.get("c50"), dict) and "rps" in ceiling["c50"]:
        s["redis_ceiling_rps"] = ceiling["c50"]["rps"]
    soak = results.get("soak")
    if soak:
        s["soak_rss_growth_pct"] = soak["rss_growth_pct"]
    s.update(_proxy(results))
    s["signins"] = _signins(results)
    s["targets"] = _targets(s)
    return s


def _by_round(run: dict[str, Any], other: dict[str, Any]) -> list[float]:
    pairs = zip(run.get("rounds", [run]), other.get("rounds", [other]), strict=False)
    return [round(x["rps"] / y["rps"], 3) for x, y in pairs]


def _token_ops(results: dict[str, Any], workers: int) -> dict[str, Any]:
    """Each token operation's throughput against warm GetDevice of the same pass, the scale
    mode's against warm's, and GetDevice at few connections against the baseline at as few."""
    out: dict[str, Any] = {}
    warm = _run(results, "warm", workers)
    if warm:
        # scale's divisor is warm traffic on its own worker (scale-base, bench/modes.py).
        scale_base = _run(results, "scale-base", workers) or warm
        ratios = {}
        for mode in TOKEN_OP_MODES:
            r = _run(results, mode, workers)
            if r and mode != "warm":
                divisor = scale_base if mode == "scale" else warm
                ratios[mode] = round(r["rps"] / divisor["rps"], 3)
        if ratios:
            out["ops_vs_getdevice"] = ratios
            out["ops_rps"] = {m: _run(results, m, workers)["rps"] for m in ratios}
        scale = _run(results, "scale", workers)
        if scale:
            out["scale_vs_warm"] = round(scale["rps"] / scale_base["rps"], 3)
            out["scale_vs_warm_by_round"] = _by_round(scale, scale_base)
        listed = _run(results, "list", workers)
        if listed:
            out["list_vs_getdevice_by_round"] = _by_round(listed, warm)
    low, low_base = _run(results, "c10", workers), _run(results, "c10", 1, "baseline")
    if low and low_base:
        out["c10_vs_baseline"] = round(low["rps"] / low_base["rps"], 3)
        out["c10_vs_baseline_by_round"] = _by_round(low, low_base)
        out["c10_connections"] = low["connections"]
        out["c10_p99_ms"] = low["latency_ms"]["p99"]
        out["baseline_c10_p99_ms"] = low_base["latency_ms"]["p99"]
    return out


def _signins(results: dict[str, Any]) -> dict[str, Any]:
    """Each sign-in mode, by worker count: sign-ins/s, the server's CPU per sign-in (ms), the
    fraction of a core one sign-in takes per second of it, and the sign-ins/s one fully busy
    worker (one core) would do. CPU per sign-in is the figure that transfers: workers for a rate
    R = R x cpu_ms / 1000."""
    out: dict[str, Any] = {}
    for r in results["runs"]:
        if r["server"] != "service" or r["mode"] not in SIGNIN_MODES:
            continue
        cpu_us = r["server_cpu_us_per_request"]
        out.setdefault(r["mode"], {})[str(r["workers"])] = {
            "signins_per_s": r["rps"],
            "cpu_ms_per_signin": round(cpu_us / 1000, 3),
            "core_fraction_per_signin": round(cpu_us / 1e6, 5),
            "signins_per_s_per_core": round(1e6 / cpu_us, 1) if cpu_us else None,
            "redis_commands_per_signin": r.get("redis_commands", {}).get("per_request"),
        }
    return out


def _signin_lines(results: dict[str, Any]) -> list[str]:
    signins = results["summary"].get("signins") or {}
    if not signins:
        return []
    lines = [
        "",
        "## Sign-ins",
        "",
        "A request is a sign-in (srp: two round trips, from bench/srpload.py). Workers for R "
        "sign-ins/s = R / (sign-ins/s per core).",
        "",
        "| mode | workers | sign-ins/s | server CPU ms per sign-in | sign-ins/s per core "
        "| Redis cmds per sign-in |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode, by_workers in signins.items():
        for w, x in by_workers.items():
            lines.append(
                f"| {mode} | {w} | {x['signins_per_s']:,.0f} | {x['cpu_ms_per_signin']:.2f} | "
                f"{x['signins_per_s_per_core'] or 0:,.0f} | "
                f"{x['redis_commands_per_signin'] or 0:.2f} |"
            )
    return lines


def _proxy(results: dict[str, Any]) -> dict[str, Any]:
    """nginx in front of one worker against the direct warm run of the same pass."""
    info = results.get("proxy") or {}
    if "skipped" in info:
        return {"proxy_skipped": info["skipped"]}
    proxied, direct = _run(results, "proxy", 1, "proxy"), _run(results, "warm", 1)
    if not proxied or not direct:
        return {}
    p99, direct_p99 = proxied["latency_ms"]["p99"], direct["latency_ms"]["p99"]
    out: dict[str, Any] = {
        "proxy_rps": proxied["rps"],
        "direct_rps": direct["rps"],
        "proxy_vs_direct": round(proxied["rps"] / direct["rps"], 3),
        "proxy_p50_ms": proxied["latency_ms"]["p50"],
        "proxy_p99_ms": p99,
        "direct_p99_ms": direct_p99,
        "proxy_p99_added_ms": round(p99 - direct_p99, 3),
        "proxy_cpu_us_per_request": proxied.get("proxy_cpu_us_per_request"),
    }
    # One round (--quick) leaves no "rounds" in the entries: then the one ratio is the round's.
    pairs = zip(proxied.get("rounds", [proxied]), direct.get("rounds", [direct]), strict=False)
    out["proxy_vs_direct_by_round"] = [round(x["rps"] / y["rps"], 3) for x, y in pairs]
    return out


def _targets(s: dict[str, Any]) -> list[dict[str, Any]]:
    t: list[dict[str, Any]] = []

    def add(name: str, target: str, value: Any, met: bool) -> None:
        t.append({"name": name, "target": target, "value": value, "met": met})

    ratio = s["warm_vs_baseline"].get("1")
    if ratio is not None:
        add(
            "warm GetDevice, 1 worker, vs bare aiohttp",
            f">= {TARGET_RATIO:.2f}",
            ratio,
            ratio >= TARGET_RATIO,
        )
    cmds = s["redis_commands_per_request"]
    if "warm" in cmds:
        add("Redis commands per warm request", "1.00", cmds["warm"], round(cmds["warm"], 2) <= 1.0)
    for mode in TOKEN_OP_MODES:
        if mode != "warm" and mode in cmds:
            add(
                f"Redis commands per warm request: {mode}",
                "1.00",
                cmds[mode],
                round(cmds[mode], 2) <= 1.0,
            )
    listed = s.get("ops_vs_getdevice", {}).get("list")
    if listed is not None:
        add(
            "ListDevices (60 devices) vs GetDevice",
            f">= {TARGET_LIST_VS_GET:.2f}",
            listed,
            listed >= TARGET_LIST_VS_GET,
        )
    if s.get("scale_vs_warm") is not None:
        add(
            "warm GetDevice, scale tokens vs one per user",
            f">= {TARGET_SCALE_VS_WARM:.2f}",
            s["scale_vs_warm"],
            s["scale_vs_warm"] >= TARGET_SCALE_VS_WARM,
        )
    if s.get("memory_bytes_per_user") is not None:
        add(
            "Redis bytes per active user",
            f"<= {TARGET_BYTES_PER_USER:,}",
            s["memory_bytes_per_user"],
            s["memory_bytes_per_user"] <= TARGET_BYTES_PER_USER,
        )
    if "cold" in cmds:
        add("Redis commands per cold request", "<= 2", cmds["cold"], round(cmds["cold"], 2) <= 2.0)
    p99 = s["warm_p99_ms"].get("1")
    if p99 is not None:
        add(
            "p99, warm, 1 worker, 50 connections",
            f"<= {TARGET_P99_MS:g} ms",
            p99,
            p99 <= TARGET_P99_MS,
        )
    paced = s.get("paced_p99_ms", {}).get("1")
    if paced is not None:
        rps = s["paced_rps"]["1"]
        add(
            f"p99, warm, 1 worker, 50 connections, paced ({rps:,.0f} req/s)",
            f"<= {TARGET_P99_MS:g} ms",
            paced,
            paced <= TARGET_P99_MS,
        )
    growth = s.get("soak_rss_growth_pct")
    if growth is not None:
        add(
            "RSS growth over the soak",
            f"< {TARGET_RSS_GROWTH_PCT:g} %",
            growth,
            growth < TARGET_RSS_GROWTH_PCT,
        )
    add("unexpected answers", "0", sum(sum(v.values()) for v in s["unexpected"].values()), s["ok"])
    return t


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    """The run as Markdown: machine and load, targets, runs, notes, Redis ceiling and soak."""
    sections = (
        _head,
        _targets_table,
        _runs_table,
        _notes,
        _ops,
        _signin_lines,
        _memory,
        _proxy_lines,
        _ceiling,
        _soak,
    )
    return "\n".join(line for section in sections for line in section(results)) + "\n"


def _head(results: dict[str, Any]) -> list[str]:
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


def _targets_table(results: dict[str, Any]) -> list[str]:
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
    low = _run(results, "c10", 1, "baseline")

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


def _runs_table(results: dict[str, Any]) -> list[str]:
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


def _ops(results: dict[str, Any]) -> list[str]:
    """The token operations against warm GetDevice of the same pass."""
    s, plan, seeded = results["summary"], results["plan"], results.get("seed", {})
    ratios = s.get("ops_vs_getdevice")
    if not ratios:
        return []
    cmds = s["redis_commands_per_request"]
    lines = [
        "",
        "## Token operations, warm, vs GetDevice of the same pass",
        "",
        "| mode | operation | req/s | vs GetDevice | Redis cmds/req |",
        "|---|---|---:|---:|---:|",
    ]
    names = {
        m: n.format(
            c=plan.get("low_connections"),
            d=seeded.get("list_devices_per_user"),
            t=f"{seeded.get('scale_tokens', 0):,}",
        )
        for m, n in OP_NAMES.items()
    }
    lines.append(
        f"| warm | {names['warm']} | {s['warm_rps'].get('1', 0):,.0f} | 1.00 | "
        f"{cmds.get('warm', 0):.2f} |"
    )
    for mode, ratio in ratios.items():
        lines.append(
            f"| {mode} | {names.get(mode, mode)} | {s['ops_rps'][mode]:,.0f} | {ratio:.2f} | "
            f"{cmds.get(mode, 0):.2f} |"
        )
    lines.append("")
    notes = []
    if "list_vs_getdevice_by_round" in s:
        notes.append(f"ListDevices vs GetDevice by round: {s['list_vs_getdevice_by_round']}.")
    if "scale_vs_warm" in s:
        notes.append(
            f"Scale ({seeded.get('scale_tokens', 0):,} tokens) vs warm "
            f"({seeded.get('users', 0):,} tokens), both on scale's own worker: "
            f"{s['scale_vs_warm']:.2f}, by round {s['scale_vs_warm_by_round']}."
        )
    if "c10_vs_baseline" in s:
        notes.append(
            f"GetDevice at {s['c10_connections']} connections vs the baseline at as many: "
            f"{s['c10_vs_baseline']:.2f} (by round {s['c10_vs_baseline_by_round']}); p99 "
            f"{s['c10_p99_ms']:.2f} ms, baseline's {s['baseline_c10_p99_ms']:.2f} ms."
        )
    notes.append(
        "confirm, forget and signout use up a device or a user per request: req/s is answers "
        "per second over the span each wrk thread was busy, as for cold."
    )
    lines.append(" ".join(notes))
    return lines


def _memory(results: dict[str, Any]) -> list[str]:
    m = results.get("memory")
    if not m:
        return []
    lines = [
        "",
        "## Memory: Redis bytes per active user",
        "",
        f"{m['users']:,} users, each with one device and one GetDevice (one cached token): "
        f"used_memory {m['used_memory_before']:,} -> {m['used_memory_after']:,} bytes, client "
        f"buffers {m['client_buffers_delta']:+,}: **{m['bytes_per_user']:,.0f} bytes per "
        f"user**, {m['keys_per_user']:g} keys each, of which "
        f"{m['keyspace_tables_per_user']:,.0f} bytes are Redis's keyspace tables (main and "
        f"expires); allocator {m['mem_allocator']}, Redis "
        f"{results['machine']['versions'].get('redis_server')}. MEMORY USAGE of the first user's "
        "keys:",
        "",
        "| key | encoding | bytes |",
        "|---|---|---:|",
    ]
    for name, k in m["first_user_keys"].items():
        lines.append(f"| {name} `{k['key']}` | {k['encoding']} | {k['bytes']} |")
    return lines


def _notes(results: dict[str, Any]) -> list[str]:
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


def _ceiling(results: dict[str, Any]) -> list[str]:
    ceiling = results.get("redis_ceiling")
    if not ceiling:
        return []
    lines = ["", "## Redis ceiling: redis-benchmark EVALSHA get_device.lua (full path)", ""]
    if "skipped" in ceiling:
        lines.append(f"Skipped: {ceiling['skipped']}")
    for name, r in ceiling.items():
        if isinstance(r, dict) and "rps" in r:
            lines.append(
                f"- {r['clients']} clients, pipeline {r['pipeline']}: "
                f"{r['rps']:,.0f} EVALSHA/s (p50 {r.get('p50_ms', '?')} ms)"
            )
        elif isinstance(r, dict) and "error" in r:
            lines.append(f"- {name}: error {r['error']}")
    return lines


def _soak(results: dict[str, Any]) -> list[str]:
    soak = results.get("soak")
    if not soak:
        return []
    return [
        "",
        f"## Soak ({soak['seconds']:g} s, mixed traffic, 1 worker, "
        f"USER_RATE_PER_S={soak.get('user_rate_per_s')})",
        "",
        f"RSS {sum(soak['rss_mib_before'].values()):.1f} MiB -> "
        f"{sum(soak['rss_mib_after'].values()):.1f} MiB "
        f"({soak['rss_growth_pct']:+.2f} %).",
        "",
        "| t (s) | req/s | p99 ms | RSS MiB |",
        "|---:|---:|---:|---:|",
        *(
            f"| {p['t_s']:g} | {p['rps']:,.0f} | {p['p99_ms']:.2f} | {p['rss_mib']:.1f} |"
            for p in soak["series"]
        ),
    ]


def _proxy_lines(results: dict[str, Any]) -> list[str]:
    s, info = results["summary"], results.get("proxy") or {}
    if s.get("proxy_skipped"):
        return ["", f"proxy: skipped: {s['proxy_skipped']}"]
    if "proxy_vs_direct" not in s:
        return []
    lines = [
        "",
        f"proxy overhead: nginx in front gives {s['proxy_vs_direct']:.2f} of direct throughput, "
        f"p99 {s['proxy_p99_added_ms']:+.2f} ms",
        "",
        f"(`proxy x1` over `warm x1` of the same pass: {s['proxy_rps']:,.0f} vs "
        f"{s['direct_rps']:,.0f} req/s; p99 {s['proxy_p99_ms']:.2f} ms "
        f"through nginx, {s['direct_p99_ms']:.2f} ms direct",
    ]
    if s.get("proxy_vs_direct_by_round"):
        lines[-1] += f"; by round {s['proxy_vs_direct_by_round']}"
    if s.get("proxy_cpu_us_per_request") is not None:
        lines[-1] += f"; nginx CPU {s['proxy_cpu_us_per_request']:.0f} us/req"
    lines[-1] += (
        f". {info.get('nginx', 'nginx')}, {info.get('config', 'deploy/nginx.conf')} as "
        f"deployed, {info.get('nginx_workers', '?')} workers, access log on. The server "
        "columns of that row are the service's; nginx shares the same cores.)"
    )
    return lines


def write(results: dict[str, Any], out: Path, stamp: str, chart_too: bool = True) -> list[Path]:
    """Write <stamp>.json, <stamp>.md and (if matplotlib is installed) <stamp>.png."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stamp}.json", out / f"{stamp}.md"]
    paths[0].write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    paths[1].write_text(markdown(results))
    png = out / f"{stamp}.png"
    if chart_too and chart.draw(results, png):
        paths.append(png)
    elif chart_too:
        print("no chart: matplotlib is not installed (pip install -e '.[bench]')")
    return paths
