"""CLI bulk data commands: `seed`, and `devices export` / `devices import`."""

from __future__ import annotations

import argparse
import asyncio
import sys

import redis.asyncio as aioredis

from .. import store
from ..bulk import devices_io, seed_plan, seeding
from ..redis_io import embedded
from ..runtime.settings import Settings
from .common import emit, pool_id_arg


async def seed(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    plan = seed_plan.SeedPlan(
        redis_url=await asyncio.to_thread(embedded.redis_url, settings),
        pool_id=pool_id_arg(args, settings),
        prefix=args.prefix,
        users=args.users,
        devices=args.devices,
        tokens=args.tokens,
        ttl_s=args.ttl,
        fmt=args.format,
    )
    if args.out in (None, "-"):
        await seeding.seed(r, plan, sys.stdout.buffer, workers=args.workers)
        return
    with open(args.out, "wb") as out:  # noqa: ASYNC230  (a local file, written in chunks)
        await seeding.seed(r, plan, out, workers=args.workers)


async def devices_export(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    await devices_io.export(
        r, pool_id_arg(args, settings), sys.stdout.buffer, settings=settings, username=args.user
    )


async def devices_import(args: argparse.Namespace, settings: Settings, r: aioredis.Redis) -> None:
    report = await devices_io.import_file(
        r,
        pool_id_arg(args, settings),
        args.file,
        username=args.user,
        create_users=args.create_users,
        strict=args.strict,
    )
    # "Skipped" and "Total" came after the first four; scripts read those by name.
    emit({"Imported": report.created + report.replaced, "Created": report.created,
          "Replaced": report.replaced, "Bad": len(report.bad), "Skipped": report.skipped,
          "Total": report.total})  # fmt: skip
    if report.not_imported:
        raise store.StoreError(
            f"{report.not_imported} of {report.total} devices not imported (see above)"
        )
