"""How a setting is declared: `setting(...)` makes a Settings field that carries its variable,
cast, meaning and shown default; Setting is that declaration read back (SPEC in settings.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field
from typing import Any, TypeVar, overload

T = TypeVar("T")

_MISSING: Any = MISSING


@overload
def setting(env: str, cast: Callable[[str], T], *, default: T, doc: str, shown: str = "") -> T: ...
@overload
def setting(
    env: str, cast: Callable[[str], T], *, factory: Callable[[], T], doc: str, shown: str = ""
) -> T: ...
def setting(
    env: str,
    cast: Callable[[str], Any],
    *,
    default: Any = _MISSING,
    factory: Any = _MISSING,
    doc: str,
    shown: str = "",
) -> Any:
    """A Settings field read from `env` with `cast` (which raises ValueError on a bad value).

    `doc` is the setting's meaning and `shown` its default as docs/settings.md's table gives
    them (`shown` only where the default is not a value one would write, such as an empty URL
    that means "computed"); tests/test_docs.py checks the table against these.
    """
    metadata = {"env": env, "cast": cast, "doc": doc, "shown": shown}
    return field(default=default, default_factory=factory, metadata=metadata)


@dataclass(frozen=True)
class Setting:
    """One setting, as declared on Settings."""

    name: str  # the Settings field
    env: str
    cast: Callable[[str], Any]
    doc: str
    shown: str


def declared(f: Field[Any]) -> Setting:
    if "env" not in f.metadata:
        raise TypeError(f"Settings.{f.name} is not declared with setting(...)")
    m = f.metadata
    return Setting(f.name, m["env"], m["cast"], m["doc"], m["shown"])
