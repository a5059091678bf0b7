"""`devices import`: check every record (lines of `devices export`, or the AWS CLI's
admin-list-devices / admin-get-device JSON; service/bulk/devices_check.py), then write the good ones
with import_device.lua. The format is described in service/bulk/devices_io.py.

Nothing is written until every record has been checked, owners included, so a bad record is
reported and skipped without touching the device it names, and with `strict` a bad record means
nothing is written at all. Each device is one import_device.lua call: whole or absent."""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from tqdm import tqdm

from .. import store
from ..redis_io import keys, lua
from ..store import admin_input
from .devices_check import BadRecord, Record, parse_record, read_records
from .devices_format import BATCH


@dataclass
class ImportReport:
    total: int = 0  # records in the file
    created: int = 0
    replaced: int = 0
    skipped: int = 0  # good records not written: `strict` stopped, or Redis failed
    bad: list[tuple[str, str]] = field(default_factory=list)  # (where, what is wrong)

    @property
    def not_imported(self) -> int:
        return len(self.bad) + self.skipped


def _no_user(username: str) -> str:
    return f"user {username} does not exist (--create-users creates it)"


async def _missing_owners(
    r: aioredis.Redis, pool_id: str, gen: str, usernames: set[str]
) -> set[str]:
    """The usernames that have no user in the pool: pipelined EXISTS, BATCH at a time."""
    names = sorted(usernames)
    missing: set[str] = set()
    for i in range(0, len(names), BATCH):
        chunk = names[i : i + BATCH]
        pipe = r.pipeline(transaction=False)
        for name in chunk:
            pipe.exists(keys.UserKeys(pool_id, gen, name).user)
        found = await pipe.execute()
        missing.update(name for name, n in zip(chunk, found, strict=True) if not n)
    return missing


async def check_records(
    r: aioredis.Redis,
    pool_id: str,
    gen: str,
    data: bytes,
    report: ImportReport,
    *,
    username: str | None,
    create_users: bool,
    strict: bool,
    now_ms: int,
) -> list[Record]:
    """Every record of `data` checked, before anything is written: the good ones, in order.
    The bad ones go into `report.bad` in file order; with `strict`, only the first (and then
    no record is returned)."""
    records: list[tuple[int, Record]] = []
    problems: list[tuple[int, str, str]] = []  # (position, where, what is wrong)
    for position, (where, obj) in enumerate(read_records(data)):
        report.total += 1
        if strict and problems:
            continue  # counted, not checked: nothing will be written
        try:
            if isinstance(obj, BadRecord):
                raise obj
            records.append((position, parse_record(obj, where, user=username, now_ms=now_ms)))
        except BadRecord as exc:
            problems.append((position, where, str(exc)))
    if not create_users:
        missing = await _missing_owners(r, pool_id, gen, {rec.username for _, rec in records})
        problems += [
            (i, rec.where, _no_user(rec.username)) for i, rec in records if rec.username in missing
        ]
        records = [(i, rec) for i, rec in records if rec.username not in missing]
    problems.sort()
    if strict and problems:
        report.bad.append(problems[0][1:])
        report.skipped = report.total - 1
        return []
    report.bad += [(where, message) for _, where, message in problems]
    return [rec for _, rec in records]


async def _write(
    r: aioredis.Redis, pool_id: str, gen: str, batch: list[Record], create_users: bool
) -> list[int | Exception]:
    """One pipelined round trip of import_device.lua, one call a record; an error reply is that
    record's answer (raise_on_error=False), a lost connection raises RedisError."""
    pipe = r.pipeline(transaction=False)
    for rec in batch:
        uk = keys.UserKeys(pool_id, gen, rec.username)
        sub = str(uuid.uuid4()) if create_users else ""
        script_keys = [uk.user, uk.devices, uk.device(rec.fields["key"])]
        args = [rec.fields["key"], sub, rec.username]
        args += [item for pair in rec.fields.items() for item in pair]
        pipe.evalsha(lua.IMPORT_DEVICE.sha, len(script_keys), *script_keys, *args)
    answers = await pipe.execute(raise_on_error=False)
    return [a if isinstance(a, Exception) else int(a) for a in answers]


async def import_file(
    r: aioredis.Redis,
    pool_id: str,
    path: str,
    *,
    username: str | None = None,
    create_users: bool = False,
    strict: bool = False,
    progress: bool | None = None,
    err: IO[str] | None = None,
) -> ImportReport:
    """Import the devices in `path` (`-`: stdin) into `pool_id`. Every record is checked first;
    a bad one is reported on `err` (stderr) as `<where>: <what>` and skipped; with `strict`
    the first one stops it before anything is written."""
    admin_input.pool_id(pool_id)
    if username is not None:
        admin_input.username(username)
    err = err or sys.stderr
    try:
        read = sys.stdin.buffer.read if path == "-" else Path(path).read_bytes
        data = await asyncio.to_thread(read)
    except OSError as exc:
        raise store.InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    gen = (await store.pool_record(r, pool_id)).get("gen", "0")
    now_ms = await store.server_ms(r)
    report = ImportReport()
    records = await check_records(
        r, pool_id, gen, data, report,
        username=username, create_users=create_users, strict=strict, now_ms=now_ms,
    )  # fmt: skip
    for where, message in report.bad:
        err.write(f"{where}: {message}\n")
    if not records:
        return report
    await r.script_load(lua.IMPORT_DEVICE.source)  # then EVALSHA in pipelines
    show = sys.stderr.isatty() if progress is None else progress
    # Strict: one device a round trip, so nothing after a refused one is written.
    size = 1 if strict else BATCH
    with tqdm(
        total=len(records), unit="device", desc="import", disable=not show, file=sys.stderr
    ) as bar:
        for start in range(0, len(records), size):
            batch = records[start : start + size]
            try:
                answers = await _write(r, pool_id, gen, batch, create_users)
            except RedisError as exc:
                # The batch may or may not have been written; nothing after it is tried.
                report.skipped += len(records) - start
                lines = batch[0].where
                if len(batch) > 1:
                    lines += f" to {batch[-1].where}"
                after = len(records) - start - len(batch)
                untried = f"; the {after} after them were not tried" if after else ""
                err.write(
                    f"{lines}: not known to be written (Redis: {type(exc).__name__}: {exc})"
                    f"{untried}\n"
                )
                break
            refused = 0
            for rec, answer in zip(batch, answers, strict=True):
                if answer == 1:
                    report.created += 1
                    continue
                if answer == 2:
                    report.replaced += 1
                    continue
                refused += 1
                if isinstance(answer, Exception):
                    message = f"not written: Redis answered {answer}"
                elif answer == 0:
                    message = _no_user(rec.username)  # deleted since it was checked
                else:  # -1: more fields than a device has; check_records lets none through
                    message = "not written: more fields than a device has"
                report.bad.append((rec.where, message))
                err.write(f"{rec.where}: {message}\n")
            bar.update(len(batch))
            if strict and refused:
                report.skipped += len(records) - start - len(batch)
                break
    return report
