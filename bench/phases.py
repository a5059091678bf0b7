"""The phases after the passes: the Redis ceiling (redis-benchmark), Redis memory per active user,
and the soak."""

from __future__ import annotations

import time
from typing import Any

from service.redis_io import lua

from . import memory, redisd
from .harness import Bench
from .measure import merge, wait_quiet
from .procs import Usage


def redis_ceiling(bench: Bench) -> dict[str, Any]:
    """get_device.lua's full path under redis-benchmark: the most Redis alone would serve."""
    assert bench.seed is not None
    script = lua.GET_DEVICE
    big = "1000000000"  # rate and burst: never throttled, so the script takes its full path
    keys = bench.seed.probe_keys
    # TokenStep.run's warm call: the read bucket, rate, burst, skew, store=0 and five blanks.
    args = ["bucket", big, big, "0", "0", "", "", "", "", ""]
    bench.redis.client.script_load(script.source)  # no service may have run yet
    probe = bench.redis.client.evalsha(script.sha, len(keys), *keys, *args)
    if not probe or probe[0] != b"OK":
        return {"skipped": f"get_device.lua answered {probe!r}, not OK"}
    command = ["EVALSHA", script.sha, str(len(keys)), *keys, *args]
    # About short_s seconds each at the ~10-20k scripts/s a small machine runs.
    n = int(10_000 * bench.plan.short_s)
    url = bench.redis.url
    print("redis ceiling: redis-benchmark EVALSHA get_device.lua", flush=True)
    bench.quiet_left_s -= wait_quiet(bench.quiet_left_s)
    runs = {
        "c50": redisd.redis_benchmark(url, command, clients=50, pipeline=1, requests=n),
        "c2_p32": redisd.redis_benchmark(url, command, clients=2, pipeline=32, requests=2 * n),
    }
    if runs["c50"] is None:
        return {"skipped": "redis-benchmark not found (apt-get install redis-tools)"}
    for name, r in runs.items():
        if r and "rps" in r:
            print(f"  {name:<12} {r['rps']:>9,.0f} EVALSHA/s", flush=True)
    return runs


def redis_memory(bench: Bench) -> dict[str, Any]:
    """Redis bytes per active user (bench/memory.py): N users with one device each, then
    one GetDevice each through a 1-worker service (a cold request: verify, cache)."""
    assert bench.seed is not None
    p = bench.plan
    n = p.memory_users
    print(f"memory: {n} users, one device and one GetDevice each", flush=True)
    # Our own Redis: database 1, a keyspace of its own. An external one: its own database.
    url = bench.redis.url
    if bench.redis.pid is not None:
        url = url.rsplit("/", 1)[0] + "/1"
    proc, server = bench.start_service(1, REDIS_URL=url)
    try:
        rows, users, devices, before, keys_before = memory.seed_users(
            url, bench.settings, n, 3600, bench.tmp
        )
        # One GetDevice per user (a cold request: the token is verified and cached).
        answers = memory.get_each(server.url, rows)
    finally:
        bench.children.stop(proc)
    first_token = rows.read_text().split("\t", 1)[0]
    out = memory.result(url, bench.settings, users, devices, first_token, before, keys_before)
    bad = {k: v for k, v in answers.items() if k != "OK"}
    out["answers"] = answers
    out["unexpected"] = bad
    print(
        f"  {out['bytes_per_user']:,.0f} bytes per active user "
        f"({out['keys_per_user']:g} keys each; MEMORY USAGE of one user's keys: "
        f"{out['memory_usage_sum']:,} bytes)" + (f" UNEXPECTED {bad}" if bad else ""),
        flush=True,
    )
    return out


def soak(bench: Bench) -> dict[str, Any]:
    p = bench.plan
    print(f"soak: {p.soak_s:.0f}s of valid, invalid and throttled traffic, 1 worker")
    # A lower rate than the other modes', so that the hammered user's share of the traffic
    # is throttled while the valid traffic, spread over every user, is not.
    rate = str(p.soak_user_rate_per_s)
    proc, server = bench.start_service(1, USER_RATE_PER_S=rate, USER_BURST=rate)
    usage = Usage(server.pids)
    try:
        bench.warm_up(server)
        rss0 = usage.rss_mib()
        chunk_s = max(5.0, min(30.0, p.soak_s / 8))
        chunks: list[dict[str, Any]] = []
        series: list[dict[str, Any]] = []
        started = time.monotonic()
        while (left := p.soak_s - (time.monotonic() - started)) >= 1:
            e = bench.measure(server, "soak", min(chunk_s, left))
            chunks.append(e)
            series.append(
                {
                    "t_s": round(time.monotonic() - started, 1),
                    "rps": e["rps"],
                    "p99_ms": e["latency_ms"]["p99"],
                    "rss_mib": round(sum(usage.rss_mib().values()), 2),
                    "unexpected": e["unexpected"],
                }
            )
        rss1 = usage.rss_mib()
    finally:
        bench.children.stop(proc)
    if chunks:
        bench.keep(merge(chunks))
    before, after = sum(rss0.values()), sum(rss1.values())
    return {
        "seconds": p.soak_s,
        "user_rate_per_s": p.soak_user_rate_per_s,
        "rss_mib_before": rss0,
        "rss_mib_after": rss1,
        "rss_growth_pct": round((after - before) / before * 100, 2) if before else None,
        "series": series,
    }
