"""The summary: the numbers a reader wants first, from a run's entries (`summary` in the JSON)."""

from __future__ import annotations

import statistics
from typing import Any

from ..measure import NOISY_CORES
from .ratios import find_run, proxy_ratios, signins, token_ops
from .targets import targets


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers a reader wants first, and each target met or not."""
    runs = list(results["runs"])
    base = find_run(results, "warm", 1, "baseline")
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
        warm, cold = find_run(results, "warm", w), find_run(results, "cold", w)
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
        paced = find_run(results, "paced", w)
        if paced:
            s.setdefault("paced_p99_ms", {})[str(w)] = paced["latency_ms"]["p99"]
            s.setdefault("paced_rps", {})[str(w)] = paced["rps"]
    base_paced = find_run(results, "paced", 1, "baseline")
    if base_paced:
        s["baseline_paced_p99_ms"] = base_paced["latency_ms"]["p99"]
    if base and "1" in s["warm_p99_ms"]:
        # At saturation latency is queueing (connections / throughput): compare it with the
        # baseline's, which queues the same way.
        s["baseline_p99_ms"] = base["latency_ms"]["p99"]
        s["warm_p99_vs_baseline"] = round(s["warm_p99_ms"]["1"] / base["latency_ms"]["p99"], 3)
    w1, b = find_run(results, "warm", 1), base
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
    s.update(token_ops(results, first))
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
    s.update(proxy_ratios(results))
    s["signins"] = signins(results)
    s["targets"] = targets(s)
    return s
