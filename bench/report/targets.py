"""The targets: each headline number against the issue's target, met or not."""

from __future__ import annotations

from typing import Any

from .. import (
    TARGET_BYTES_PER_USER,
    TARGET_LIST_VS_GET,
    TARGET_P99_MS,
    TARGET_RATIO,
    TARGET_RSS_GROWTH_PCT,
    TARGET_SCALE_VS_WARM,
)
from ..modes import TOKEN_OP_MODES


def targets(s: dict[str, Any]) -> list[dict[str, Any]]:
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
