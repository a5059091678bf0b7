"""Seed users, devices and tokens through the service's own code (service.store, service.tokens).

Writes tab-separated files that the wrk scripts load: one request's token and device key a line.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from jose import jwk
from jose.backends.base import Key

from service import store, tokens
from service.cli import mint_token
from service.devices import device_from_hash, get_device_response
from service.pools import Pool, pool_from_record
from service.settings import Settings

CONCURRENCY = 32  # admin commands in flight while seeding
MINT_CHUNK = 500


@dataclass
class Seed:
    """What was seeded, and where the wrk scripts find it."""

    pool_id: str
    users: int
    devices: int
    warm_file: Path  # token<TAB>device, one line per (user, device)
    hammer_file: Path  # one line: the token and device of the user the throttle mode hammers
    cold_file: Path  # token<TAB>device, every token distinct and never used before
    soak_file: Path  # kind<TAB>token<TAB>device: valid, invalid and throttled requests
    sample_file: Path  # a real GetDevice answer: the baseline answers with the same bytes' size
    probe_keys: list[str]  # get_device.lua's KEYS for the first warm pair (redis-benchmark)
    cold_claims_keys: list[str] = field(repr=False, default_factory=list)
    seconds: float = 0.0


def _write(path: Path, rows: list[tuple[str, ...]]) -> Path:
    path.write_text("".join("\t".join(row) + "\n" for row in rows))
    return path


async def _user(
    r: aioredis.Redis, pool_id: str, name: str, devices: int, sem: asyncio.Semaphore
) -> tuple[store.User, list[dict[str, str]]]:
    async with sem:
        user = await store.create_user(r, pool_id, name)
        fields = [await store.add_device(r, user, name=f"{name}-d{j}") for j in range(devices)]
        return user, fields


async def _seed_store(
    url: str, settings: Settings, users: int, devices: int, ttl_s: int, out: Path
) -> tuple[Seed, dict[str, str], list[store.User], list[str]]:
    r = aioredis.Redis.from_url(url, socket_timeout=10)
    try:
        await store.ensure_default_pool(r, settings)
        # A pool of our own per run: never collides with data in an external REDIS_URL.
        pool_id = f"{settings.region}_Bench{secrets.token_hex(4)}"
        await store.create_pool(r, settings, pool_id)
        sem = asyncio.Semaphore(CONCURRENCY)
        seeded = await asyncio.gather(
            *(_user(r, pool_id, f"bench{i:06d}", devices, sem) for i in range(users))
        )
        mint = await store.token_minter(r, pool_id)

        def issue(user: store.User, ttl: int = ttl_s) -> str:
            return mint(user, ttl_s=ttl)

        warm: list[tuple[str, ...]] = []
        for user, fields in seeded:
            token = issue(user)
            warm.extend((token, f["key"]) for f in fields)
        hammer = await store.create_user(r, pool_id, "hammer")
        hammer_device = (await store.add_device(r, hammer, name="hammer-d0"))["key"]
        # The CLI's own minting path, once (it parses the pool's PEM on every call).
        hammer_token = await mint_token(r, settings, pool_id, "hammer", ttl_s=ttl_s)

        first_user, first_fields = seeded[0]
        region = settings.region
        valid_token, valid_device = warm[0]
        tampered = valid_token[:-8] + ("A" * 8 if not valid_token.endswith("A" * 8) else "B" * 8)
        soak: list[tuple[str, ...]] = [("valid", t, d) for t, d in warm]
        soak += [("throttled", hammer_token, hammer_device)]
        soak += [
            ("invalid", "not-a-token", valid_device),
            ("invalid", "a.b.c", valid_device),
            ("invalid", tampered, valid_device),
            ("invalid", issue(first_user, ttl=-60), valid_device),
            ("invalid", valid_token, f"{region}_{uuid.uuid4()}"),
        ]
        uk = first_user.keys
        probe_keys = [
            uk.claims(tokens.digest(valid_token)),
            uk.base,
            uk.revoked,
            uk.device(valid_device),
        ]
        sample = get_device_response(
            device_from_hash(
                first_fields[0],
                username=first_user.username,
                pool_id=pool_id,
                account_id=settings.account_id,
            )
        )
        seed = Seed(
            pool_id=pool_id,
            users=users,
            devices=devices,
            warm_file=_write(out / "warm.tsv", warm),
            hammer_file=_write(out / "hammer.tsv", [(hammer_token, hammer_device)]),
            cold_file=out / "cold.tsv",
            soak_file=_write(out / "soak.tsv", soak),
            sample_file=out / "sample.json",
            probe_keys=probe_keys,
        )
        seed.sample_file.write_bytes(sample)
        record = await store.pool_record(r, pool_id)
        firsts = [fields[0]["key"] for _, fields in seeded]
        return seed, record, [u for u, _ in seeded], firsts
    finally:
        await r.aclose()


# -- cold tokens: RS256 signing is ~0.7 ms each, so they are minted on every core ----------
_MINTER: tuple[Pool, str, Key] | None = None


def _init_minter(record: dict[str, str]) -> None:
    global _MINTER
    key = jwk.construct(record["private_pem"], "RS256")
    _MINTER = (pool_from_record(record), record["kid"], key)


def _mint(chunk: list[tuple[str, str]], ttl_s: int) -> list[str]:
    assert _MINTER is not None
    pool, kid, key = _MINTER
    client_id = sorted(pool.clients)[0]
    return [
        tokens.issue(
            pool=pool,
            signing_kid=kid,
            signing_key=key,
            sub=sub,
            username=name,
            client_id=client_id,
            ttl_s=ttl_s,
        )
        for sub, name in chunk
    ]


def _mint_cold(
    record: dict[str, str], users: list[store.User], devices: list[str], count: int, ttl_s: int
) -> tuple[list[tuple[str, ...]], list[str]]:
    owners = [i % len(users) for i in range(count)]
    subjects = [(users[i].sub, users[i].username) for i in owners]
    chunks = [subjects[i : i + MINT_CHUNK] for i in range(0, len(subjects), MINT_CHUNK)]
    minted: list[str] = []
    if chunks:
        with ProcessPoolExecutor(
            max_workers=min(os.cpu_count() or 1, len(chunks)),
            mp_context=get_context("spawn"),
            initializer=_init_minter,
            initargs=(record,),
        ) as pool:
            for batch in pool.map(_mint, chunks, [ttl_s] * len(chunks)):
                minted.extend(batch)
    rows: list[tuple[str, ...]] = [(t, devices[i]) for t, i in zip(minted, owners, strict=True)]
    claims = [
        users[i].keys.claims(tokens.digest(token))
        for token, i in zip(minted, owners, strict=True)
    ]
    return rows, claims


def seed(
    url: str, settings: Settings, *, users: int, devices: int, cold: int, ttl_s: int, out: Path
) -> Seed:
    """Seed `users` x `devices`, one token per user, and `cold` never-used tokens."""
    started = time.monotonic()
    result, record, user_list, firsts = asyncio.run(
        _seed_store(url, settings, users, devices, ttl_s, out)
    )
    rows, claims = _mint_cold(record, user_list, firsts, cold, ttl_s)
    _write(result.cold_file, rows)
    result.cold_claims_keys = claims
    result.seconds = round(time.monotonic() - started, 2)
    return result


def summary(seed: Seed, cold: int) -> dict[str, Any]:
    return {
        "pool_id": seed.pool_id,
        "users": seed.users,
        "devices_per_user": seed.devices,
        "warm_pairs": seed.users * seed.devices,
        "cold_tokens": cold,
        "seed_seconds": seed.seconds,
    }
