"""`python -m service seed`: users, devices and tokens at load-test scale.

Users are `<prefix>-000001`, `<prefix>-000002`, ...; each is written by one EVALSHA of
seed_user.lua, which creates the user with its K devices or reuses the user and devices already
there (so a seed is atomic per user, and a re-run creates nothing twice and only mints fresh
tokens). Users go in chunks of CHUNK: one pipelined round trip of CHUNK scripts, then one access
token (RS256) and one refresh token per user, then the chunk's output lines.

RS256 signing is the cost: about 0.29 ms per token on one core of the reference machine (3,450
signatures/s, `openssl speed rsa2048` gives 3,720), against about 0.02 ms per user for the
script. So chunks run in a process pool (one process more than the cores), each process with
its own connection and its own copy of the pool's key; the parent only writes chunks out, in
order.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import IO, Any

import orjson
import redis.asyncio as aioredis
from tqdm import tqdm

from .. import store
from ..model import clients
from .seed_chunk import Chunk, init, seed_chunk
from .seed_plan import CHUNK, SeedPlan, SeedResult, check, header


def _chunks(users: int) -> Iterator[tuple[int, int]]:
    for first in range(1, users + 1, CHUNK):
        yield first, min(CHUNK, users + 1 - first)


async def seed(
    r: aioredis.Redis,
    plan: SeedPlan,
    out: IO[bytes],
    *,
    workers: int | None = None,
    progress: bool | None = None,
) -> SeedResult:
    """Seed `plan` and write one line per user to `out` (in user order). `workers` processes
    mint tokens (default: one more than the cores; 1 runs everything in this process). A
    progress bar goes to stderr when it is a terminal (`progress` overrides)."""
    check(plan)
    started = time.monotonic()
    record = await store.pool_record(r, plan.pool_id)
    if plan.tokens and "private_pem" not in record:
        raise store.StoreError(
            f"User pool {plan.pool_id} trusts external keys only; it cannot mint tokens."
        )
    clients.parse(orjson.loads(record["clients"]))  # a malformed record stops here, not later
    offset_s = await store.server_ms(r) / 1000 - time.time()
    chunks = list(_chunks(plan.users))
    # One more process than cores: a worker waiting on its pipeline's replies leaves its core
    # to another (100k users x 1 device with tokens: 51 s with 2 workers, 36 s with 3).
    workers = max(1, min(workers or (os.cpu_count() or 1) + 1, len(chunks)))
    show = sys.stderr.isatty() if progress is None else progress
    done: list[Chunk] = []
    out.write(header(plan.fmt))
    with tqdm(total=plan.users, unit="user", desc="seed", disable=not show, file=sys.stderr) as bar:
        if workers == 1:
            init(plan, record, offset_s)
            for first, count in chunks:
                chunk = await asyncio.to_thread(seed_chunk, first, count)
                out.write(chunk.lines)
                done.append(chunk)
                bar.update(count)
        else:
            await _in_pool(plan, record, offset_s, chunks, workers, out, done, bar)
    out.flush()
    return SeedResult(
        users=plan.users,
        created_users=sum(c.created_users for c in done),
        created_devices=sum(c.created_devices for c in done),
        tokens=sum(c.tokens for c in done),
        seconds=round(time.monotonic() - started, 3),
    )


async def _in_pool(
    plan: SeedPlan,
    record: dict[str, str],
    offset_s: float,
    chunks: list[tuple[int, int]],
    workers: int,
    out: IO[bytes],
    done: list[Chunk],
    bar: tqdm[Any],
) -> None:
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),  # no fork of a process holding an event loop
        initializer=init,
        initargs=(plan, record, offset_s),
    )
    try:
        futures: list[Future[Chunk]] = [executor.submit(seed_chunk, f, n) for f, n in chunks]
        # In order: a chunk's lines are written when every chunk before it is.
        for (_, count), future in zip(chunks, futures, strict=True):
            chunk = await asyncio.wrap_future(future)
            out.write(chunk.lines)
            done.append(chunk)
            bar.update(count)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
