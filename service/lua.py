"""The Lua scripts in service/scripts, read once at import.

A script is composed from parts: every access-token operation's script is the bucket function,
the session prelude and the operation's own body (`session_script`), so Redis sees one script
and a warm call is one EVALSHA.
"""

from __future__ import annotations

from importlib import resources

from .transport import Script


def _read(name: str) -> str:
    return resources.files("service").joinpath("scripts", f"{name}.lua").read_text()


def load(name: str, *parts: str) -> Script:
    """The script `name`, with the shared parts (`_bucket`, `_session`, ...) before its body."""
    return Script(name, "".join(_read(part) for part in (*parts, name)))


def session_script(name: str) -> Script:
    """An access-token operation's script: the bucket, the session prelude, then its body."""
    return load(name, "_bucket", "_session")


GET_DEVICE = session_script("get_device")
LIST_DEVICES = session_script("list_devices")
UPDATE_DEVICE_STATUS = session_script("update_device_status")
FORGET_DEVICE = session_script("forget_device")
CONFIRM_DEVICE = session_script("confirm_device")
GLOBAL_SIGN_OUT = session_script("global_sign_out")
TAKE_TOKEN = load("take_token", "_bucket")
REVOKE_REFRESH = load("revoke_refresh")
# Loaded into Redis at start-up (and again on NOSCRIPT).
ALL = (
    GET_DEVICE,
    LIST_DEVICES,
    UPDATE_DEVICE_STATUS,
    FORGET_DEVICE,
    CONFIRM_DEVICE,
    GLOBAL_SIGN_OUT,
    TAKE_TOKEN,
    REVOKE_REFRESH,
)

# Admin writes (run with redis-py; never on the hot path). Each is one script, so a write that
# touches several keys happens whole or not at all.
CREATE_POOL = load("create_pool")
UPDATE_POOL = load("update_pool")
DELETE_POOL = load("delete_pool")
CREATE_USER = load("create_user")
UPDATE_USER = load("update_user")
DELETE_USER = load("delete_user")
ADD_DEVICE = load("add_device")
REVOKE_ORIGIN = load("revoke_origin")
ISSUE_REFRESH = load("issue_refresh")
