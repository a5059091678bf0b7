"""Seed users, devices and tokens through the service's own code (service.store,
service.credentials.tokens).

Writes tab-separated files that the wrk scripts load: one request's token and device key a line.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from service import store
from service.cli import mint_token
from service.credentials import tokens
from service.credentials.pool import pool_from_record
from service.model.devices import device_from_hash, get_device_response
from service.runtime.settings import Settings

from . import minting

CONCURRENCY = 32  # admin commands in flight while seeding
SIGNIN_PASSWORD = "Bench-passw0rd!"  # every sign-in user's (meets the policy)


@dataclass(frozen=True)
class Extra:
    """How much the modes beyond GetDevice need (bench/modes.py): each 0 leaves its data out."""

    list_users: int = 0  # users with `list_devices` remembered devices each (ListDevices)
    list_devices: int = 60
    spare_devices: int = 0  # unconfirmed devices of the warm users (ConfirmDevice, ForgetDevice)
    signout_users: int = 0  # throwaway users, one primed token each (GlobalSignOut)
    scale_tokens: int = 0  # distinct primed tokens over the warm users (the scale mode)
    signin_users: int = 0  # users with a password and a refresh token (the sign-in modes)


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
    list_file: Path | None = None  # token of a user with `list_devices` devices, one a line
    spare_file: Path | None = None  # token<TAB>unconfirmed device, every device distinct
    signout_file: Path | None = None  # token of a throwaway user, every user distinct
    scale_file: Path | None = None  # token<TAB>device, scale_tokens distinct tokens
    # pool<TAB>client<TAB>username<TAB>password<TAB>refresh token, one sign-in user a line
    signin_file: Path | None = None
    extra: Extra = field(default_factory=Extra)
    cold_claims_keys: list[str] = field(repr=False, default_factory=list)
    seconds: float = 0.0


def _write(path: Path, rows: Sequence[tuple[str, ...]]) -> Path:
    path.write_text("".join("\t".join(row) + "\n" for row in rows))
    return path


async def _user(
    r: aioredis.Redis, pool_id: str, name: str, devices: int, sem: asyncio.Semaphore
) -> tuple[store.User, list[dict[str, str]]]:
    async with sem:
        user = await store.create_user(r, pool_id, name)
        fields = [await store.add_device(r, user, name=f"{name}-d{j}") for j in range(devices)]
        return user, fields


async def _gather(coros: list[Any]) -> list[Any]:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(coro: Any) -> Any:
        async with sem:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def _seed_store(
    url: str, settings: Settings, users: int, devices: int, ttl_s: int, out: Path, extra: Extra
) -> tuple[Seed, dict[str, str], list[store.User], list[str], list[store.User]]:
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
        user_tokens: list[str] = []
        for user, fields in seeded:
            token = issue(user)
            user_tokens.append(token)
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
            extra=extra,
        )
        seed.sample_file.write_bytes(sample)

        # ListDevices: users with many remembered devices (a page holds at most 60).
        if extra.list_users:
            listed = await asyncio.gather(
                *(
                    _user(r, pool_id, f"list{i:04d}", extra.list_devices, sem)
                    for i in range(extra.list_users)
                )
            )
            seed.list_file = _write(out / "list.tsv", [(issue(u),) for u, _ in listed])
        # ConfirmDevice, then ForgetDevice: each request uses up one device that a sign-in
        # left unconfirmed, spread over the warm users (whose tokens are already warm).
        if extra.spare_devices:
            owners = [i % users for i in range(extra.spare_devices)]
            spares = await _gather(
                [store.add_device(r, seeded[i][0], confirmed=False) for i in owners]
            )
            rows = [(user_tokens[i], f["key"]) for i, f in zip(owners, spares, strict=True)]
            seed.spare_file = _write(out / "spare.tsv", rows)
        # The sign-in modes: users with a password (only its SRP salt and verifier are stored)
        # and a refresh token of the pool's generated client, which allows every flow.
        if extra.signin_users:
            seed.signin_file = await _signin_users(r, pool_id, extra.signin_users, out)
        throwaway: list[store.User] = []
        if extra.signout_users:
            throwaway = await _gather(
                [store.create_user(r, pool_id, f"gone{i:06d}") for i in range(extra.signout_users)]
            )
        record = await store.pool_record(r, pool_id)
        firsts = [fields[0]["key"] for _, fields in seeded]
        return seed, record, [u for u, _ in seeded], firsts, throwaway
    finally:
        await r.aclose()


async def _signin_users(r: aioredis.Redis, pool_id: str, n: int, out: Path) -> Path:
    client_id = sorted(pool_from_record(await store.pool_record(r, pool_id)).clients)[0]

    async def one(i: int) -> tuple[str, ...]:
        name = f"signin{i:05d}"
        await store.create_user(r, pool_id, name)
        user = await store.set_password(r, pool_id, name, SIGNIN_PASSWORD)
        token = await store.mint_refresh(
            r, pool_id, user, client_id=client_id, origin_jti=str(uuid.uuid4())
        )
        return (pool_id, client_id, name, SIGNIN_PASSWORD, token)

    return _write(out / "signin.tsv", await _gather([one(i) for i in range(n)]))


def seed(
    url: str,
    settings: Settings,
    *,
    users: int,
    devices: int,
    cold: int,
    ttl_s: int,
    out: Path,
    extra: Extra | None = None,
) -> Seed:
    """Seed `users` x `devices`, one token per user, `cold` never-used tokens, and what the
    `extra` modes need (their tokens' claims cached: warm from the first request)."""
    started = time.monotonic()
    extra = extra or Extra()
    result, record, user_list, firsts, throwaway = asyncio.run(
        _seed_store(url, settings, users, devices, ttl_s, out, extra)
    )
    cold_owners = [i % len(user_list) for i in range(cold)]
    scale_owners = [i % len(user_list) for i in range(extra.scale_tokens)]
    subjects = [(user_list[i].sub, user_list[i].username) for i in cold_owners + scale_owners]
    subjects += [(u.sub, u.username) for u in throwaway]
    minted = minting.mint_many(record, subjects, ttl_s)
    cold_tokens = minted[:cold]
    scale_tokens = minted[cold : cold + len(scale_owners)]
    gone_tokens = minted[cold + len(scale_owners) :]
    _write(
        result.cold_file, [(t, firsts[i]) for t, i in zip(cold_tokens, cold_owners, strict=True)]
    )
    result.cold_claims_keys = [
        user_list[i].keys.claims(tokens.digest(token))
        for token, i in zip(cold_tokens, cold_owners, strict=True)
    ]
    warm = [tuple(line.split("\t")) for line in result.warm_file.read_text().splitlines()]
    primed: list[tuple[str, ...]] = list({row[0]: row for row in warm}.values())  # each token once
    if result.list_file:
        primed += [tuple(line.split("\t")) for line in result.list_file.read_text().splitlines()]
    if scale_tokens:
        scale = [(t, firsts[i]) for t, i in zip(scale_tokens, scale_owners, strict=True)]
        result.scale_file = _write(out / "scale.tsv", scale)
        primed += scale
    if gone_tokens:
        result.signout_file = _write(out / "signout.tsv", [(t,) for t in gone_tokens])
        primed += [(t,) for t in gone_tokens]
    asyncio.run(minting.prime(url, settings, record, primed))
    result.seconds = round(time.monotonic() - started, 2)
    return result


def summary(seed: Seed, cold: int) -> dict[str, Any]:
    return {
        "pool_id": seed.pool_id,
        "users": seed.users,
        "devices_per_user": seed.devices,
        "warm_pairs": seed.users * seed.devices,
        "cold_tokens": cold,
        "list_users": seed.extra.list_users,
        "list_devices_per_user": seed.extra.list_devices if seed.extra.list_users else 0,
        "spare_devices": seed.extra.spare_devices,
        "signout_users": seed.extra.signout_users,
        "scale_tokens": seed.extra.scale_tokens,
        "signin_users": seed.extra.signin_users,
        "seed_seconds": seed.seconds,
    }
