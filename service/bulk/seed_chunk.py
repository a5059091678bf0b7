"""One chunk of a seed, in a pool process (or in this one): init() sets the process up (its
Redis connection, the pool, its own parsed signing key), seed_chunk() writes CHUNK users with
seed_user.lua, pipelined, mints their tokens and formats their output lines."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import redis.cluster
from redis.exceptions import NoScriptError

from .. import store
from ..credentials import refresh, tokens
from ..credentials.pool import Pool, pool_from_record, text
from ..redis_io import keys, lua
from ..redis_io.cluster import is_cluster, parse_cluster_url
from .seed_plan import COLUMNS, SeedPlan


@dataclass(frozen=True)
class Chunk:
    lines: bytes
    created_users: int
    created_devices: int
    tokens: int


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


WORKER: _Worker | None = None


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


def init(plan: SeedPlan, record: dict[str, str], offset_s: float) -> None:
    """Set up this process: its connection, the pool, and its own parsed signing key."""
    global WORKER
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
    WORKER = _Worker(
        plan=plan,
        redis=client,
        pool=pool,
        gen=record["gen"],
        region=plan.pool_id.split("_", 1)[0],
        client_id=client_id,
        mint=mint,
        refresh_exp=lambda: server_s() + refresh.DEFAULT_TTL_S,
    )


def write_users(w: _Worker, first: int, count: int) -> list[tuple[str, str, list[Any]]]:
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


def seed_chunk(first: int, count: int) -> Chunk:
    w = WORKER
    assert w is not None, "init() first"
    written = write_users(w, first, count)
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
    return Chunk(_format(rows, w.plan.fmt), created_users, created_devices, minted)


def _format(rows: list[tuple[str, str, list[str], str | None, str | None]], fmt: str) -> bytes:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for name, sub, device_keys, access, refresh_token in rows:
            writer.writerow([name, sub, " ".join(device_keys), access or "", refresh_token or ""])
        return out.getvalue().encode()
    return b"".join(orjson.dumps(dict(zip(COLUMNS, row, strict=True))) + b"\n" for row in rows)
