"""`devices import`: parse records (lines of `devices export`, or the AWS CLI's
admin-list-devices / admin-get-device JSON), check them, and write them with
import_device.lua. The format is described in service/devices_io.py."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
import redis.asyncio as aioredis
from tqdm import tqdm

from . import admin_input, keys, lua, store
from .devices_format import _ATTRIBUTES, _DATES, _KNOWN, BATCH

_REMEMBERED = ("remembered", "not_remembered")


class BadRecord(ValueError):
    """One record that cannot be imported; the message is one line."""


@dataclass(frozen=True)
class Record:
    where: str  # "line 3" or "Devices[2]": how a bad one is reported
    username: str
    fields: dict[str, str]


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    replaced: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)  # (where, what is wrong)


def _ms(value: Any, what: str) -> str:
    if isinstance(value, bool):
        raise BadRecord(f"{what} must be a date, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = datetime.fromisoformat(value).timestamp()
        except ValueError:
            raise BadRecord(f"{what} {value[:40]!r} is not an ISO 8601 date") from None
    else:
        raise BadRecord(f"{what} must be epoch seconds or an ISO 8601 date")
    if not 0 <= seconds < 1e11:
        raise BadRecord(f"{what} {value!r} is out of range")
    return str(round(seconds * 1000))


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadRecord(f"{what} must be a string")
    return value


def parse_record(obj: Any, where: str, *, user: str | None, now_ms: int) -> Record:
    """One device (a line of `devices export`, or one DeviceType) as hash fields, checked."""
    if not isinstance(obj, dict):
        raise BadRecord("not a JSON object")
    device = obj.get("Device", obj if "DeviceKey" in obj else None)
    if not isinstance(device, dict):
        raise BadRecord('no "Device" object (or DeviceType) in it')
    try:
        key = admin_input.device_key(_string(device.get("DeviceKey"), "DeviceKey"))
        fields: dict[str, str] = {"key": key}
        attributes = device.get("DeviceAttributes", [])
        if not isinstance(attributes, list):
            raise BadRecord("DeviceAttributes must be a list")
        owner: str | None = None
        for attribute in attributes:
            if not isinstance(attribute, dict):
                raise BadRecord("each of DeviceAttributes must be {Name, Value}")
            name = _string(attribute.get("Name"), "an attribute's Name")
            value = _string(attribute.get("Value"), f"attribute {name}")
            if name == "dev:device_owner":
                owner = value.rpartition(".")[0] or value  # username.poolId
            elif name in _ATTRIBUTES:
                fields[_ATTRIBUTES[name]] = value
        if "name" in fields:
            admin_input.device_name(fields["name"])
        if "last_ip" in fields:
            fields["last_ip"] = admin_input.ip(fields["last_ip"])
        fields.setdefault("status", "valid")
        if not fields["status"]:
            raise BadRecord("device_status must not be empty")
        fields.setdefault("remembered", "not_remembered")
        if fields["remembered"] not in _REMEMBERED:
            raise BadRecord(f"dev:device_remembered_status must be one of {', '.join(_REMEMBERED)}")
        for member, hash_field in _DATES.items():
            fields[hash_field] = _ms(device[member], member) if member in device else str(now_ms)
        confirmed = obj.get("Confirmed")
        if confirmed is not None:
            if not isinstance(confirmed, bool):
                raise BadRecord("Confirmed must be true or false")
            fields["confirmed"] = "1" if confirmed else "0"
        verifier = obj.get("DeviceSecretVerifierConfig")
        if verifier is not None:
            if not isinstance(verifier, dict):
                raise BadRecord("DeviceSecretVerifierConfig must be an object")
            fields["verifier"] = _string(verifier.get("PasswordVerifier", ""), "PasswordVerifier")
            fields["salt"] = _string(verifier.get("Salt", ""), "Salt")
        extra = obj.get("Extra", {})
        if not isinstance(extra, dict):
            raise BadRecord("Extra must be an object")
        for name, value in extra.items():
            if name in _KNOWN:
                raise BadRecord(f"Extra must not hold {name!r}, a field of its own")
            fields[name] = _string(value, f"Extra {name}")
        username = user or obj.get("Username") or owner
        if username is None:
            raise BadRecord("no owner: give Username, dev:device_owner or --user")
        admin_input.username(_string(username, "Username"))
    except admin_input.InvalidInput as exc:
        raise BadRecord(str(exc)) from None
    return Record(where, username, fields)


def read_records(data: bytes) -> Iterator[tuple[str, Any]]:
    """(where, parsed JSON or the BadRecord) for each record of a file: JSON lines, or one JSON
    document with "Devices" (admin-list-devices) or "Device" (admin-get-device)."""
    if data.lstrip()[:1] == b"{":
        try:
            whole = orjson.loads(data)
        except orjson.JSONDecodeError:
            whole = None  # JSON lines
        if isinstance(whole, dict) and isinstance(whole.get("Devices"), list):
            for i, device in enumerate(whole["Devices"]):
                yield f"Devices[{i}]", device
            return
        if isinstance(whole, dict):
            yield "line 1", whole
            return
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield f"line {number}", BadRecord(f"not JSON ({exc})")


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
    """Import the devices in `path` (`-`: stdin) into `pool_id`. A bad record is reported on
    `err` (stderr) as `<where>: <what>` and skipped; with `strict` the first one stops it."""
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
    await r.script_load(lua.IMPORT_DEVICE.source)  # then EVALSHA in pipelines
    report = ImportReport()
    items = list(read_records(data))
    show = sys.stderr.isatty() if progress is None else progress
    batch: list[Record] = []

    def refuse(where: str, message: str) -> None:
        report.bad.append((where, message))
        err.write(f"{where}: {message}\n")

    async def flush() -> bool:
        pipe = r.pipeline(transaction=False)
        for rec in batch:
            uk = keys.UserKeys(pool_id, gen, rec.username)
            sub = str(uuid.uuid4()) if create_users else ""
            script_keys = [uk.user, uk.devices, uk.device(rec.fields["key"])]
            args = [rec.fields["key"], sub, rec.username]
            args += [item for pair in rec.fields.items() for item in pair]
            pipe.evalsha(lua.IMPORT_DEVICE.sha, len(script_keys), *script_keys, *args)
        answers = await pipe.execute()
        ok = True
        for rec, answer in zip(batch, answers, strict=True):
            if int(answer) == 0:
                refuse(rec.where, f"user {rec.username} does not exist (--create-users creates it)")
                ok = False
            elif int(answer) == 2:
                report.replaced += 1
            else:
                report.created += 1
        batch.clear()
        return ok

    with tqdm(
        total=len(items), unit="device", desc="import", disable=not show, file=sys.stderr
    ) as bar:
        for where, obj in items:
            report.total += 1
            try:
                if isinstance(obj, BadRecord):
                    raise obj
                batch.append(parse_record(obj, where, user=username, now_ms=now_ms))
            except BadRecord as exc:
                refuse(where, str(exc))
                if strict:
                    break
            # Strict: one device a round trip, so nothing after the first bad one is written.
            full = len(batch) >= (1 if strict else BATCH)
            if full and not await flush() and strict:
                break
            bar.update(1)
        if batch:
            await flush()
    return report
