"""The Lua scripts in service/redis_io/scripts, read once at import.

A script is composed from parts: every access-token operation's script is the bucket function,
the session prelude and the operation's own body (`session_script`), so Redis sees one script
and a warm call is one EVALSHA.
"""

from __future__ import annotations

from importlib import resources

from .script import Script


def _read(name: str) -> str:
    return resources.files("service.redis_io").joinpath("scripts", f"{name}.lua").read_text()


def load(name: str, *parts: str) -> Script:
    """The script `name`, with the shared parts (`_bucket`, `_session`, ...) before its body."""
    return Script(name, "".join(_read(part) for part in (*parts, name)))


# The request-path scripts, loaded into Redis at start-up (and again on NOSCRIPT): each
# hot_script() call adds its script here, so an operation's module declares its script in one
# line and nothing else needs to know.
ALL: list[Script] = []


def hot_script(name: str, *parts: str) -> Script:
    """A script of the request path, registered in ALL."""
    script = load(name, *parts)
    ALL.append(script)
    return script


def session_script(name: str, *parts: str) -> Script:
    """An access-token operation's script: the bucket, the session prelude, any other shared
    parts, then its body."""
    return hot_script(name, "_bucket", "_session", *parts)


TAKE_TOKEN = hot_script("take_token", "_bucket")
# GetDevice's, named here too for bench/ (the operations declare their own in service/ops).
GET_DEVICE = session_script("get_device")

# Sign-in (service/ops/auth.py).
AUTH_READ = hot_script("auth_read", "_bucket", "_lockout")
AUTH_FAIL = hot_script("auth_fail", "_lockout")
AUTH_CLEAR = hot_script("auth_clear")
AUTH_PUT = hot_script("auth_put")
AUTH_OK = hot_script("auth_ok", "_devices")
AUTH_REFRESH = hot_script("auth_refresh")

# Admin writes (run with redis-py; never on the hot path). Each is one script, so a write that
# touches several keys happens whole or not at all.
CREATE_POOL = load("create_pool")
UPDATE_POOL = load("update_pool")
DELETE_POOL = load("delete_pool")
CREATE_USER = load("create_user")
UPDATE_USER = load("update_user")
DELETE_USER = load("delete_user", "_devices")
ADD_DEVICE = load("add_device", "_devices")
REVOKE_ORIGIN = load("revoke_origin")
ISSUE_REFRESH = load("issue_refresh")
# The seeder's one write per user (service/bulk/seed_chunk.py) and the device importer's per device
# (service/bulk/devices_import.py).
SEED_USER = load("seed_user", "_devices")
IMPORT_DEVICE = load("import_device", "_devices")
SET_PASSWORD = load("set_password")
SWAP_CLIENTS = load("swap_clients")
ADMIN_DEVICE = load("admin_device", "_devices")
DEVICE_KEYS = load("device_keys", "_devices")
