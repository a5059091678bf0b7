"""Seeding at load-test scale: `python -m service seed` against the Redis ceiling for its writes.

    python -m bench.seed_scale                      # 100,000 users x 1 device, with tokens
    python -m bench.seed_scale --users 20000 --devices 2

On a fresh redis-server of its own (loopback, no persistence), in one run:
1. RS256 signing alone, one core: tokens.issue in a loop for 2 s (what minting can reach per
   core).
2. The Redis ceiling for the same writes: seed_user.lua for every user, pipelined in the
   seeder's chunks from one connection, with no token minting (service.bulk.seed_chunk's own write
   path, on another prefix so it creates every user too).
3. The command itself, as a subprocess: `python -m service seed --users N --devices K --tokens
   --out FILE`, timed from start to exit (interpreter start-up and process pool included).
4. The same command again: every user is reused, only tokens are minted.

Writes bench/results/<stamp>-seed.{json,md} and prints the Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from service import store
from service.bulk import seed_chunk, seed_plan, seeding
from service.credentials import tokens
from service.credentials.pool import pool_from_record
from service.redis_io import connect
from service.runtime.settings import Settings

from .machine import describe
from .procs import Children
from .redisd import start_redis

RESULTS = Path(__file__).resolve().parent / "results"
PROJECT = Path(__file__).resolve().parent.parent


def signing_rate(record: dict[str, str], seconds: float = 2.0) -> float:
    """Access tokens per second on one core, as the seeder mints them."""
    pool = pool_from_record(record)
    key = store._private_key(record["private_pem"])
    client = sorted(pool.clients)[0]
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        tokens.issue(
            pool=pool, signing_kid=record["kid"], signing_key=key, sub="s", username="u",
            client_id=client,
        )  # fmt: skip
        count += 1
    return count / (time.perf_counter() - started)


def redis_ceiling(url: str, record: dict[str, str], users: int, devices: int) -> float:
    """Users per second that seed_user.lua reaches, pipelined in the seeder's chunks, with
    nothing else to do."""
    plan = seed_plan.SeedPlan(url, record["id"], "ceiling", users, devices, tokens=True)
    seed_chunk.init(replace(plan, tokens=False), record, 0.0)
    worker = seed_chunk.WORKER
    assert worker is not None
    worker.plan = plan  # the same writes as a seed with tokens (a refresh token's origin_jti)
    started = time.perf_counter()
    for first, count in seeding._chunks(users):
        seed_chunk.write_users(worker, first, count)
    return users / (time.perf_counter() - started)


def run_seed(url: str, data_dir: Path, args: argparse.Namespace, out: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATA_DIR"))}
    env.update(REDIS_URL=url, DATA_DIR=str(data_dir), LOG_LEVEL="WARNING")
    command = [sys.executable, "-m", "service", "seed", "--users", str(args.users),
               "--devices", str(args.devices), "--tokens", "--out", str(out)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=PROJECT, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


async def _pool(url: str) -> dict[str, str]:
    r = connect.admin_client(url, 10)
    try:
        settings = Settings.from_env({}, redis_url=url)
        await store.ensure_default_pool(r, settings)
        return await store.pool_record(r, settings.default_pool_id)
    finally:
        await r.aclose()


def markdown(result: dict[str, Any]) -> str:
    n, k = result["users"], result["devices"]
    first, again = result["seed_seconds"], result["reseed_seconds"]
    ceiling = result["redis_ceiling_users_per_s"]
    rows = [
        ("`seed --tokens`, fresh", f"{first:.1f} s", f"{n / first:,.0f}",
         f"{n * (1 + k) / first:,.0f}", f"{n / first:,.0f}"),
        ("`seed --tokens`, again (all reused)", f"{again:.1f} s", f"{n / again:,.0f}", "0",
         f"{n / again:,.0f}"),
        ("Redis ceiling: seed_user.lua pipelined, no minting", f"{n / ceiling:.1f} s",
         f"{ceiling:,.0f}", f"{ceiling * (1 + k):,.0f}", "-"),
        ("RS256 signing alone, one core", f"{n / result['sign_per_s_one_core']:.1f} s", "-", "-",
         f"{result['sign_per_s_one_core']:,.0f}"),
    ]  # fmt: skip
    lines = [
        f"# Seeding {n:,} users x {k} device(s), with tokens ({result['stamp']})",
        "",
        "| | time | users/s | objects/s (users + devices) | tokens/s (access; + as many refresh) |",
        "|---|---:|---:|---:|---:|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        f"Machine: {result['machine']['cpu_model']}, {result['machine']['cores_logical']} cores,"
        f" load {result['machine']['load_average_at_start']} at start; Redis "
        f"{result['machine']['versions']['redis_server']}; commit "
        f"{result['machine']['code']['commit']}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.seed_scale", description=__doc__)
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print only, write no results")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cgd-seed-bench-") as tmp:
        work = Path(tmp)
        children = Children(work)
        try:
            redis_ = start_redis(children, work)
            record = asyncio.run(_pool(redis_.url))
            sign = signing_rate(record)
            print(f"RS256 signing, one core: {sign:,.0f} tokens/s", flush=True)
            ceiling = redis_ceiling(redis_.url, record, args.users, args.devices)
            print(f"Redis ceiling: {ceiling:,.0f} users/s (seed_user.lua, pipelined)", flush=True)
            out = work / "seed.jsonl"
            first = run_seed(redis_.url, work / "data", args, out)
            print(f"seed: {first:.1f} s", flush=True)
            again = run_seed(redis_.url, work / "data", args, out)
            print(f"seed again: {again:.1f} s", flush=True)
            lines = sum(1 for _ in out.open("rb"))
            assert lines == args.users, (lines, args.users)
            result = {
                "stamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
                "users": args.users,
                "devices": args.devices,
                "sign_per_s_one_core": round(sign),
                "redis_ceiling_users_per_s": round(ceiling),
                "seed_seconds": round(first, 2),
                "reseed_seconds": round(again, 2),
                "seed_file_bytes": out.stat().st_size,
                "workers": (os.cpu_count() or 1) + 1,
                "machine": describe(redis_.version(), {}),
            }
            redis_.close()
        finally:
            children.stop_all()
    text = markdown(result)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        stem = RESULTS / f"{result['stamp']}-seed"
        stem.with_suffix(".json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        stem.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
