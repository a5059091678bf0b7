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
# Admin only (run with redis-py); not loaded on the hot path.
CREATE_POOL = Script("create_pool", _read("create_pool"))
ALL = (GET_DEVICE, TAKE_TOKEN)
