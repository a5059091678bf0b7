"""The DeviceType object, shaped and ordered as Cognito returns it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

# Redis hash fields of a device, in the order get_device.lua returns them.
FIELDS = (
    "key",
    "name",
    "status",
    "remembered",
    "last_ip",
    "sdk",
    "create_ms",
    "modified_ms",
    "last_auth_ms",
)


def _date(ms: str | bytes | None) -> float | None:
    # Epoch seconds with a millisecond fraction, as Cognito's DateType.
    return None if ms is None else int(ms) / 1000


def _text(value: str | bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


def device_object(
    values: Sequence[str | bytes | None], *, username: str, pool_id: str, account_id: str
) -> dict[str, Any]:
    """The DeviceType for a device hash's FIELDS values (missing ones are None)."""
    key, name, status, remembered, last_ip, sdk, create_ms, modified_ms, last_auth_ms = values
    device_key = _text(key) or ""
    region = pool_id.split("_", 1)[0]
    owner = f"{username}.{pool_id}"
    arn = f"arn:aws:cognito-idp:{region}:{account_id}:owner/{owner}/device/{device_key}"
    attributes: list[tuple[str, str | None]] = [
        ("device_status", _text(status)),
        ("device_name", _text(name)),
        ("dev:device_arn", arn),
        ("dev:device_owner", owner),
        ("last_ip_used", _text(last_ip)),
        ("dev:device_remembered_status", _text(remembered)),
        ("dev:device_sdk", _text(sdk)),
    ]
    return _device(device_key, attributes, create_ms, last_auth_ms, modified_ms)


# What access-token calls (GetDevice, ListDevices) read of a device, in the scripts' order.
USER_FIELDS = ("key", "name", "status", "last_ip", "create_ms", "modified_ms", "last_auth_ms")


def user_device_object(values: Sequence[str | bytes | None]) -> dict[str, Any]:
    """The DeviceType as a user's own calls show it: `device_status`, `device_name` (when the
    device has one) and `last_ip_used`; the `dev:*` attributes belong to the admin calls
    (shared/REFERENCE.md, "Device objects")."""
    key, name, status, last_ip, create_ms, modified_ms, last_auth_ms = values
    attributes = (
        ("device_status", _text(status)),
        ("device_name", _text(name)),
        ("last_ip_used", _text(last_ip)),
    )
    return _device(_text(key) or "", attributes, create_ms, last_auth_ms, modified_ms)


def _device(
    key: str,
    attributes: Sequence[tuple[str, str | None]],
    create_ms: str | bytes | None,
    last_auth_ms: str | bytes | None,
    modified_ms: str | bytes | None,
) -> dict[str, Any]:
    """A DeviceType: its key, the attributes that have a value, and the dates it has."""
    device: dict[str, Any] = {
        "DeviceKey": key,
        "DeviceAttributes": [{"Name": n, "Value": v} for n, v in attributes if v is not None],
    }
    for name_, ms in (
        ("DeviceCreateDate", create_ms),
        ("DeviceLastAuthenticatedDate", last_auth_ms),
        ("DeviceLastModifiedDate", modified_ms),
    ):
        when = _date(ms)
        if when is not None:
            device[name_] = when
    return device


def device_from_hash(
    fields: Mapping[str, str], *, username: str, pool_id: str, account_id: str
) -> dict[str, Any]:
    """The DeviceType for a device hash read whole (CLI and admin paths)."""
    return device_object(
        [fields.get(f) for f in FIELDS], username=username, pool_id=pool_id, account_id=account_id
    )


def get_device_response(device: dict[str, Any]) -> bytes:
    return orjson.dumps({"Device": device})
