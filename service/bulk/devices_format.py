"""The line format that `devices export` and `devices import` share (service/bulk/devices_io.py
describes it): which device hash fields a line's members carry, the limits on one line, and the
batch size."""

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

# Limits on one line, from the botocore model (cognito-idp 2016-04-18, service-2.json):
# - AttributeType (each of DeviceType's DeviceAttributes): Name is AttributeNameType, 1 to 32
#   characters of [\p{L}\p{M}\p{S}\p{N}\p{P}\t\n\r ]; Value is AttributeValueType, at most 2048.
#   An Extra field is a device attribute Cognito does not show, so it gets the same limits.
ATTRIBUTE_NAME_MAX = 32
ATTRIBUTE_VALUE_MAX = 2048
# - DeviceSecretVerifierConfigType's PasswordVerifier and Salt are StringType, at most 131072
#   characters: what ConfirmDevice takes (service/ops/devices.py).
VERIFIER_MAX = 131072
# - AttributeListType has no maximum in the model, but a device has a handful of attributes:
#   AdminGetDevice shows seven (device_status, device_name, last_ip_used, dev:device_arn,
#   dev:device_owner, dev:device_remembered_status, dev:device_sdk; the AWS CLI's
#   admin-get-device example), GetDevice three. Twice that leaves room for one AWS adds.
MAX_ATTRIBUTES = 16
# - Extra holds hash fields that no DeviceType member carries. This service writes none (every
#   script writes only _KNOWN fields); they come from another tool or a later release, so a
#   handful again.
MAX_EXTRA = 16
# The most fields a device hash can be written with: 28. import_device.lua refuses more on its
# own (its MAX_FIELDS is this number), long before Lua's `unpack` would fail: it returns at most
# 7,999 values (LUAI_MAXCSTACK, 8000, in Redis's Lua 5.1), and `HSET key unpack(ARGV, 4)` fails
# from 4,000 fields on (measured on redis-server 6.2.14). Redis does not undo the writes of a
# script that fails half-way, so that failure used to leave a device deleted but indexed.
MAX_FIELDS = len(_KNOWN) + MAX_EXTRA
