"""The line format that `devices export` and `devices import` share (service/devices_io.py
describes it): which device hash fields a line's members carry, and the batch size."""

from __future__ import annotations

BATCH = 500  # devices per pipelined round trip
# Hash fields a DeviceType (and this file's own members) carry; anything else goes in "Extra".
_ATTRIBUTES = {
    "device_status": "status",
    "device_name": "name",
    "last_ip_used": "last_ip",
    "dev:device_remembered_status": "remembered",
    "dev:device_sdk": "sdk",
}
_DATES = {
    "DeviceCreateDate": "create_ms",
    "DeviceLastModifiedDate": "modified_ms",
    "DeviceLastAuthenticatedDate": "last_auth_ms",
}
_KNOWN = {"key", "confirmed", "verifier", "salt", *_ATTRIBUTES.values(), *_DATES.values()}
