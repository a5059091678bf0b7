"""`python -m service devices export | import`: devices in bulk, as JSON lines.

One line per device:

    {"Username": U, "Device": <DeviceType as AdminGetDevice shows it>,
     "Confirmed": true|false, "DeviceSecretVerifierConfig": {"PasswordVerifier", "Salt"},
     "Extra": {field: value}}

The last three appear only when the device's hash has them (`confirmed`, `verifier`/`salt`,
fields this module does not know), so export then import writes every hash field back exactly,
dates included (DeviceType dates are epoch seconds with milliseconds). Import also takes what
`aws cognito-idp admin-list-devices` prints, `{"Devices": [DeviceType, ...]}` (and
admin-get-device's `{"Device": ...}`), with dates as epoch seconds or ISO 8601 strings; the
owner is then `--user`, or the username in `dev:device_owner` (`username.poolId`).

Every record is checked with the model's constraints (service/admin_input.py); a bad one is
reported by its line (or its place in `Devices`) and the others are imported anyway, unless
`strict`. Export finds the pool's users with SCAN, never KEYS: an offline command.

One module per part; callers keep using `devices_io.<name>`:
- `devices_export`: `devices export` (the pool's users found with SCAN, pipelined reads).
- `devices_import`: `devices import` (records parsed and checked, written with import_device.lua).
- `devices_format`: what both share (the hash fields a line's members carry, the batch size).
"""

from __future__ import annotations

from .devices_export import export, export_line
from .devices_format import BATCH
from .devices_import import BadRecord, ImportReport, Record, import_file, parse_record, read_records

__all__ = [
    "BATCH",
    "BadRecord",
    "ImportReport",
    "Record",
    "export",
    "export_line",
    "import_file",
    "parse_record",
    "read_records",
]
