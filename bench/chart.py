"""The PNG a person would rather look at: throughput and p99 by mode and worker count, and the
soak's RSS over time. Needs matplotlib (`pip install -e '.[bench]'`); without it, no chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import TARGET_P99_MS, TARGET_RSS_GROWTH_PCT

MODE_COLOURS = {
    "baseline": "#9e9e9e",
    "warm": "#1f77b4",
    "paced": "#8fbbd9",
    "throttle": "#ff7f0e",
    "cold": "#7b4fa0",
    "soak": "#2ca02c",
    "proxy": "#17becf",
}


def draw(results: dict[str, Any], path: Path) -> bool:
    """Throughput and p99 by mode and worker count, as a PNG. False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    runs = [r for r in results["runs"] if r["mode"] != "soak"]
    if not runs:
        return False
    labels = [r["label"] for r in runs]
    colours = [
        MODE_COLOURS.get("baseline" if r["server"] == "baseline" else r["mode"], "#7f7f7f")
        for r in runs
    ]
    base = results["summary"].get("baseline_rps")
    direct = next((r["rps"] for r in runs if r["label"] == "warm x1"), None)
    soak = (results.get("soak") or {}).get("series")
    height = max(3.5, 1.0 + 0.55 * len(runs))
    if soak:
        fig, axes = plt.subplots(1, 3, figsize=(17, height), width_ratios=[1, 1, 0.8])
        ax1, ax2, ax3 = axes
        ax2.sharey(ax1)
        _soak_panel(ax3, results["soak"])
    else:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, height), sharey=True)
    rps = [r["rps"] for r in runs]
    ax1.barh(labels, rps, color=colours)
    for i, r in enumerate(runs):
        note = f"{r['rps']:,.0f}"
        if base and r["mode"] == "warm" and r["server"] == "service":
            note += f"  ({r['rps'] / base:.2f}x baseline)"
        if direct and r["mode"] == "proxy":
            note += f"  ({r['rps'] / direct:.2f}x direct)"
        ax1.text(r["rps"], i, " " + note, va="center", fontsize=8)
    ceiling = results["summary"].get("redis_ceiling_rps")
    if ceiling:
        ax1.axvline(
            ceiling,
            ls="--",
            color="#d62728",
            lw=1,
            label=f"Redis ceiling, EVALSHA -c50: {ceiling:,.0f}/s",
        )
        ax1.legend(loc="lower right", fontsize=8)
    ax1.set_xlim(0, max([*rps, ceiling or 0]) * 1.35)
    ax1.set_xlabel("requests per second (cold: token verifications per second)")
    ax1.set_title("Throughput")
    ax1.invert_yaxis()
    p99 = [r["latency_ms"]["p99"] for r in runs]
    ax2.barh(labels, p99, color=colours)
    for i, value in enumerate(p99):
        ax2.text(value, i, f" {value:.2f} ms", va="center", fontsize=8)
    ax2.axvline(TARGET_P99_MS, ls=":", color="#d62728", lw=1, label="target p99 (warm, 1 worker)")
    ax2.legend(loc="best", fontsize=8)
    ax2.set_xlim(0, max([*p99, TARGET_P99_MS]) * 1.3)
    ax2.set_xlabel("p99 latency, ms")
    ax2.set_title("p99 latency")
    m, plan = results["machine"], results["plan"]
    fig.suptitle(
        f"GetDevice vs bare aiohttp: wrk -t{plan['threads']} -c{plan['connections']}, "
        f"{m['cpu_model']} x{m['cores_logical']}, {results['timestamp']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _soak_panel(ax: Any, soak: dict[str, Any]) -> None:
    t = [0.0] + [p["t_s"] for p in soak["series"]]
    rss = [sum(soak["rss_mib_before"].values())] + [p["rss_mib"] for p in soak["series"]]
    ax.plot(t, rss, marker="o", color=MODE_COLOURS["soak"])
    ax.set_ylim(0, max(rss) * 1.2)
    ax.set_xlabel("seconds into the soak")
    ax.set_ylabel("worker RSS, MiB")
    ax.set_title(
        f"Soak: RSS {soak['rss_growth_pct']:+.1f} % (target < {TARGET_RSS_GROWTH_PCT:g} %)"
    )
    twin = ax.twinx()
    twin.plot(t[1:], [p["rps"] for p in soak["series"]], ls="--", color="#555555")
    twin.set_ylabel("req/s (dashed)")
    twin.set_ylim(0, max(p["rps"] for p in soak["series"]) * 1.3)
