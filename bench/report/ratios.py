"""The ratios of a run's entries: finding a run, token operations against GetDevice, sign-ins per
core, nginx against direct. Each is a part of the summary (bench/report/summary.py)."""

from __future__ import annotations

from typing import Any

from ..modes import SIGNIN_MODES, TOKEN_OP_MODES


def find_run(results: dict[str, Any], mode: str, workers: int, server: str = "service") -> Any:
    for r in results["runs"]:
        if r["server"] == server and r["mode"] == mode and r["workers"] == workers:
            return r
    return None


def _by_round(run: dict[str, Any], other: dict[str, Any]) -> list[float]:
    pairs = zip(run.get("rounds", [run]), other.get("rounds", [other]), strict=False)
    return [round(x["rps"] / y["rps"], 3) for x, y in pairs]


def token_ops(results: dict[str, Any], workers: int) -> dict[str, Any]:
    """Each token operation's throughput against warm GetDevice of the same pass, the scale
    mode's against warm's, and GetDevice at few connections against the baseline at as few."""
    out: dict[str, Any] = {}
    warm = find_run(results, "warm", workers)
    if warm:
        # scale's divisor is warm traffic on its own worker (scale-base, bench/modes.py).
        scale_base = find_run(results, "scale-base", workers) or warm
        ratios = {}
        for mode in TOKEN_OP_MODES:
            r = find_run(results, mode, workers)
            if r and mode != "warm":
                divisor = scale_base if mode == "scale" else warm
                ratios[mode] = round(r["rps"] / divisor["rps"], 3)
        if ratios:
            out["ops_vs_getdevice"] = ratios
            out["ops_rps"] = {m: find_run(results, m, workers)["rps"] for m in ratios}
        scale = find_run(results, "scale", workers)
        if scale:
            out["scale_vs_warm"] = round(scale["rps"] / scale_base["rps"], 3)
            out["scale_vs_warm_by_round"] = _by_round(scale, scale_base)
        listed = find_run(results, "list", workers)
        if listed:
            out["list_vs_getdevice_by_round"] = _by_round(listed, warm)
    low, low_base = find_run(results, "c10", workers), find_run(results, "c10", 1, "baseline")
    if low and low_base:
        out["c10_vs_baseline"] = round(low["rps"] / low_base["rps"], 3)
        out["c10_vs_baseline_by_round"] = _by_round(low, low_base)
        out["c10_connections"] = low["connections"]
        out["c10_p99_ms"] = low["latency_ms"]["p99"]
        out["baseline_c10_p99_ms"] = low_base["latency_ms"]["p99"]
    return out


def signins(results: dict[str, Any]) -> dict[str, Any]:
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


def proxy_ratios(results: dict[str, Any]) -> dict[str, Any]:
    """nginx in front of one worker against the direct warm run of the same pass."""
    info = results.get("proxy") or {}
    if "skipped" in info:
        return {"proxy_skipped": info["skipped"]}
    proxied, direct = find_run(results, "proxy", 1, "proxy"), find_run(results, "warm", 1)
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
