"""One record of `devices import` (a line of `devices export`, or one DeviceType) read and
checked against the model's constraints and the limits in service/bulk/devices_format.py, before
anything is written: the hash fields it becomes, or BadRecord with one line saying why not."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ..store import admin_input
from .devices_format import (
    _ATTRIBUTES,
    _DATES,
    _KNOWN,
    ATTRIBUTE_NAME_MAX,
    ATTRIBUTE_VALUE_MAX,
    MAX_ATTRIBUTES,
    MAX_EXTRA,
    VERIFIER_MAX,
)

_REMEMBERED = ("remembered", "not_remembered")
# AttributeNameType's pattern, [\p{L}\p{M}\p{S}\p{N}\p{P}\t\n\r ]+: Python's re has no \p, the
# Unicode categories say the same.
_NAME_SPACES = "\t\n\r "


class BadRecord(ValueError):
    """One record that cannot be imported; the message is one line."""


@dataclass(frozen=True)
class Record:
    where: str  # "line 3" or "Devices[2]": how a bad one is reported
    username: str
    fields: dict[str, str]


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


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


def _string(value: Any, what: str, longest: int = ATTRIBUTE_VALUE_MAX) -> str:
    """A string of at most `longest` characters. The value is never shown: AttributeValueType is
    `sensitive` in the model, and so is a verifier."""
    if not isinstance(value, str):
        raise BadRecord(f"{what} must be a string")
    if len(value) > longest:
        raise BadRecord(f"{what} must be at most {longest} characters long, not {len(value)}")
    return value


def _name(value: Any, what: str) -> str:
    """AttributeNameType: 1 to 32 letters, marks, symbols, numbers, punctuation or white space."""
    if not isinstance(value, str):
        raise BadRecord(f"{what} must be a string")
    if not 1 <= len(value) <= ATTRIBUTE_NAME_MAX:
        raise BadRecord(
            f"{what} {_shown(value)} must be 1 to {ATTRIBUTE_NAME_MAX} characters long, "
            f"not {len(value)}"
        )
    for ch in value:
        if ch not in _NAME_SPACES and unicodedata.category(ch)[0] not in "LMSNP":
            raise BadRecord(
                f"{what} {_shown(value)} may hold only letters, marks, symbols, numbers, "
                f"punctuation and white space (not {ch!r})"
            )
    return value


def _at_most(count: int, what: str, most: int, noun: str, tail: str = "") -> None:
    if count > most:
        raise BadRecord(f"{what} has {count} {noun}; a device has at most {most}{tail}")


def _attributes(device: dict[str, Any], fields: dict[str, str]) -> str | None:
    """DeviceAttributes into `fields`; returns the owner that dev:device_owner names, if any."""
    attributes = device.get("DeviceAttributes", [])
    if not isinstance(attributes, list):
        raise BadRecord("DeviceAttributes must be a list")
    _at_most(len(attributes), "DeviceAttributes", MAX_ATTRIBUTES, "entries")
    owner: str | None = None
    for attribute in attributes:
        if not isinstance(attribute, dict):
            raise BadRecord("each of DeviceAttributes must be {Name, Value}")
        name = _name(attribute.get("Name"), "an attribute's Name")
        value = _string(attribute.get("Value"), f"attribute {name}")
        if name == "dev:device_owner":
            owner = value.rpartition(".")[0] or value  # username.poolId
        elif name in _ATTRIBUTES:
            fields[_ATTRIBUTES[name]] = value
    return owner


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
        owner = _attributes(device, fields)
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
            for member, hash_field in (("PasswordVerifier", "verifier"), ("Salt", "salt")):
                fields[hash_field] = _string(verifier.get(member, ""), member, VERIFIER_MAX)
        extra = obj.get("Extra", {})
        if not isinstance(extra, dict):
            raise BadRecord("Extra must be an object")
        _at_most(len(extra), "Extra", MAX_EXTRA, "fields", " besides its own")
        for name, value in extra.items():
            if name in _KNOWN:
                raise BadRecord(f"Extra must not hold {name!r}, a field of its own")
            _name(name, "Extra field name")
            fields[name] = _string(value, f"Extra field {name}")
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
