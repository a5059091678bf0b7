"""The Markdown's token operations (against warm GetDevice of the same pass) and sign-ins."""

from __future__ import annotations

from typing import Any

from ..modes import MIXED_GET_PCT, MIXED_LIST_PCT

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


def ops(results: dict[str, Any]) -> list[str]:
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


def signin_lines(results: dict[str, Any]) -> list[str]:
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
