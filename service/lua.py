"""The Lua scripts in service/scripts, read once at import."""

from __future__ import annotations

from importlib import resources

from .transport import Script


def _read(name: str) -> str:
    return resources.files("service").joinpath("scripts", f"{name}.lua").read_text()


def load(name: str) -> Script:
    """The script `name`, with the shared bucket function before it."""
    return Script(name, _read("_bucket") + _read(name))


GET_DEVICE = load("get_device")
TAKE_TOKEN = load("take_token")
ALL = (GET_DEVICE, TAKE_TOKEN)

# Admin writes (run with redis-py; never on the hot path). Each is one script, so a write that
# touches several keys happens whole or not at all.
CREATE_POOL = Script("create_pool", _read("create_pool"))
UPDATE_POOL = Script("update_pool", _read("update_pool"))
DELETE_POOL = Script("delete_pool", _read("delete_pool"))
CREATE_USER = Script("create_user", _read("create_user"))
UPDATE_USER = Script("update_user", _read("update_user"))
DELETE_USER = Script("delete_user", _read("delete_user"))
ADD_DEVICE = Script("add_device", _read("add_device"))
REVOKE_ORIGIN = Script("revoke_origin", _read("revoke_origin"))
