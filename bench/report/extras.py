"""The Markdown's extra phases: Redis memory per user, nginx in front, the Redis ceiling,
the soak."""

from __future__ import annotations

from typing import Any


def memory(results: dict[str, Any]) -> list[str]:
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


def proxy_lines(results: dict[str, Any]) -> list[str]:
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


def ceiling(results: dict[str, Any]) -> list[str]:
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


def soak(results: dict[str, Any]) -> list[str]:
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
