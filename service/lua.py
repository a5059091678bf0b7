"""The Lua scripts in service/scripts, read once at import."""

from __future__ import annotations

from importlib import resources

from .transport import Script


def load(name: str) -> Script:
    source = resources.files("service").joinpath("scripts", f"{name}.lua").read_text()
    return Script(name, source)


GET_DEVICE = load("get_device")
TAKE_TOKEN = load("take_token")
ALL = (GET_DEVICE, TAKE_TOKEN)
