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
import csv
import io
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import IO, Any

import orjson
import redis
import redis.asyncio as aioredis
import redis.cluster
from redis.exceptions import NoScriptError
from tqdm import tqdm

from .. import store
from ..credentials import refresh, tokens
from ..credentials.pools import Pool, pool_from_record, text
from ..model import clients
from ..redis_io import keys, lua
from ..redis_io.cluster import is_cluster, parse_cluster_url
from ..store import admin_input

# Users per chunk: one pipelined round trip of this many scripts, then their tokens.
CHUNK = 500
# Devices per user that one seed may ask for (each is a key of the user's one script).
MAX_DEVICES = 100
FORMATS = ("jsonl", "csv")
COLUMNS = ("username", "sub", "device_keys", "access_token", "refresh_token")


@dataclass(frozen=True)
class SeedPlan:
    """What to seed: users `<prefix>-000001` ... `<prefix>-<users>`, K devices each."""

    redis_url: str
    pool_id: str
    prefix: str
    users: int
    devices: int
    tokens: bool = False
    ttl_s: int = 3600
    fmt: str = "jsonl"
    ip: str = "127.0.0.1"

    def username(self, i: int) -> str:
        return f"{self.prefix}-{i:06d}"


@dataclass(frozen=True)
class SeedResult:
    users: int
    created_users: int  # the rest already existed and were reused
    created_devices: int
    tokens: int  # access tokens minted (as many refresh tokens with them)
    seconds: float


@dataclass(frozen=True)
class _Chunk:
    lines: bytes
    created_users: int
    created_devices: int
    tokens: int


def check(plan: SeedPlan) -> None:
    """Every input of a seed, with the model's constraints (InvalidInput)."""
    admin_input.pool_id(plan.pool_id)
    if plan.users < 1:
        raise admin_input.InvalidInput(f"--users must be at least 1, not {plan.users}")
    if not 0 <= plan.devices <= MAX_DEVICES:
        raise admin_input.InvalidInput(f"--devices must be 0 to {MAX_DEVICES}, not {plan.devices}")
    if plan.fmt not in FORMATS:
        raise admin_input.InvalidInput(f"--format must be one of {', '.join(FORMATS)}")
    admin_input.ttl_s(plan.ttl_s)
    admin_input.ip(plan.ip)
    # The first and the last name: the longest, and every character the others have.
    admin_input.username(plan.username(1))
    admin_input.username(plan.username(plan.users))


# -- one chunk (in a pool process, or in this one) ------------------------------------------
@dataclass
class _Worker:
    plan: SeedPlan
    redis: Any  # redis.Redis or redis.RedisCluster (synchronous)
    pool: Pool
    gen: str
    region: str
    client_id: str
    mint: Callable[[str, str, str], str] | None  # (sub, username, origin_jti) -> access token
    refresh_exp: Callable[[], int]


_WORKER: _Worker | None = None


def _sync_client(url: str) -> Any:
    if is_cluster(url):
        c = parse_cluster_url(url)
        return redis.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in c.nodes],  # type: ignore[no-untyped-call]
            username=c.username,
            password=c.password,
            ssl=c.tls,
            socket_timeout=30,
        )
    return redis.Redis.from_url(url, socket_timeout=30)


def _init(plan: SeedPlan, record: dict[str, str], offset_s: float) -> None:
    """Set up this process: its connection, the pool, and its own parsed signing key."""
    global _WORKER
    pool = pool_from_record(record)
    client_id = sorted(pool.clients)[0]

    def server_s() -> int:
        # Redis's clock (offset measured once by the parent): iat must be on the clock
        # sign-out cut-offs are taken from.
        return int(time.time() + offset_s)

    mint = None
    if plan.tokens:
        kid, key = record["kid"], store._private_key(record["private_pem"])

        def mint(sub: str, username: str, origin_jti: str) -> str:
            return tokens.issue(
                pool=pool,
                signing_kid=kid,
                signing_key=key,
                sub=sub,
                username=username,
                client_id=client_id,
                ttl_s=plan.ttl_s,
                now=server_s(),
                origin_jti=origin_jti,
            )

    client = _sync_client(plan.redis_url)
    client.script_load(lua.SEED_USER.source)
    _WORKER = _Worker(
        plan=plan,
        redis=client,
        pool=pool,
        gen=record["gen"],
        region=plan.pool_id.split("_", 1)[0],
        client_id=client_id,
        mint=mint,
        refresh_exp=lambda: server_s() + refresh.DEFAULT_TTL_S,
    )


def _write_users(w: _Worker, first: int, count: int) -> list[tuple[str, str, list[Any]]]:
    """Run seed_user.lua for users first .. first+count-1, pipelined. Returns, per user,
    (username, origin_jti, the script's answer)."""
    plan, k = w.plan, w.plan.devices
    calls: list[tuple[str, str, list[str], list[str]]] = []
    for i in range(first, first + count):
        name = plan.username(i)
        uk = keys.UserKeys(plan.pool_id, w.gen, name)
        fresh = [f"{w.region}_{uuid.uuid4()}" for _ in range(k)]
        origin_jti = str(uuid.uuid4()) if plan.tokens else ""
        script_keys = [uk.user, uk.devices, uk.refresh, *(uk.device(d) for d in fresh)]
        args = [name, str(uuid.uuid4()), str(k), plan.ip, origin_jti, w.client_id, *fresh]
        calls.append((name, origin_jti, script_keys, args))
    for attempt in (1, 2):
        pipe = w.redis.pipeline(transaction=False)
        for _, _, script_keys, args in calls:
            pipe.evalsha(lua.SEED_USER.sha, len(script_keys), *script_keys, *args)
        try:
            answers = pipe.execute()
            break
        except NoScriptError:
            # First use on this Redis (or it restarted): load it and run the chunk again.
            # Safe, because the script is idempotent per user and the arguments are the same.
            if attempt == 2:
                raise
            w.redis.script_load(lua.SEED_USER.source)
    return [(name, ojti, answer) for (name, ojti, _, _), answer in zip(calls, answers, strict=True)]


def _seed_chunk(first: int, count: int) -> _Chunk:
    w = _WORKER
    assert w is not None, "_init() first"
    written = _write_users(w, first, count)
    rows: list[tuple[str, str, list[str], str | None, str | None]] = []
    created_users = created_devices = minted = 0
    for name, origin_jti, answer in written:
        sub, device_keys = text(answer[0]), [text(d) for d in answer[3:]]
        created_users += int(answer[1])
        created_devices += int(answer[2])
        access = refresh_token = None
        if w.mint is not None:
            access = w.mint(sub, name, origin_jti)
            claims = refresh.RefreshClaims(
                pool_id=w.plan.pool_id,
                gen=w.gen,
                username=name,
                sub=sub,
                client_id=w.client_id,
                origin_jti=origin_jti,
                exp=w.refresh_exp(),
            )
            refresh_token = refresh.seal(w.pool, claims)
            minted += 1
        rows.append((name, sub, device_keys, access, refresh_token))
    return _Chunk(_format(rows, w.plan.fmt), created_users, created_devices, minted)


def _format(rows: list[tuple[str, str, list[str], str | None, str | None]], fmt: str) -> bytes:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for name, sub, device_keys, access, refresh_token in rows:
            writer.writerow([name, sub, " ".join(device_keys), access or "", refresh_token or ""])
        return out.getvalue().encode()
    return b"".join(orjson.dumps(dict(zip(COLUMNS, row, strict=True))) + b"\n" for row in rows)


def header(fmt: str) -> bytes:
    """The output's first line: CSV's header row (JSON lines have none)."""
    return (",".join(COLUMNS) + "\n").encode() if fmt == "csv" else b""


# -- the whole seed -------------------------------------------------------------------------
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
    done: list[_Chunk] = []
    out.write(header(plan.fmt))
    with tqdm(total=plan.users, unit="user", desc="seed", disable=not show, file=sys.stderr) as bar:
        if workers == 1:
            _init(plan, record, offset_s)
            for first, count in chunks:
                chunk = await asyncio.to_thread(_seed_chunk, first, count)
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
    done: list[_Chunk],
    bar: tqdm[Any],
) -> None:
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),  # no fork of a process holding an event loop
        initializer=_init,
        initargs=(plan, record, offset_s),
    )
    try:
        futures: list[Future[_Chunk]] = [executor.submit(_seed_chunk, f, n) for f, n in chunks]
        # In order: a chunk's lines are written when every chunk before it is.
        for (_, count), future in zip(chunks, futures, strict=True):
            chunk = await asyncio.wrap_future(future)
            out.write(chunk.lines)
            done.append(chunk)
            bar.update(count)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
