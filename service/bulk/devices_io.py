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

Every record is checked with the model's constraints (service/store/admin_input.py) and the limits
on one device (service/bulk/devices_format.py: at most 16 DeviceAttributes and 16 Extra fields,
names of 1 to 32 characters, values of at most 2048) before anything is written; a bad one is
reported by its line (or its place in `Devices`) and skipped, and the others are imported
anyway, unless `strict`, when nothing is. Export finds the pool's users with SCAN, never KEYS:
an offline command.

One module per part; callers keep using `devices_io.<name>`:
- `devices_export`: `devices export` (the pool's users found with SCAN, pipelined reads).
- `devices_check`: one record read and checked, into the hash fields it becomes.
- `devices_import`: `devices import` (every record checked, then written with import_device.lua).
- `devices_format`: what they share (the hash fields a line's members carry, the limits on one
  line, the batch size).
"""

from __future__ import annotations

from .devices_check import BadRecord, Record, parse_record, read_records
from .devices_export import export, export_line
from .devices_format import BATCH
from .devices_import import ImportReport, import_file

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
