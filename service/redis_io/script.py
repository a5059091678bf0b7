"""A Lua script as Redis runs it: known by its SHA1, reloaded on NOSCRIPT."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .redis_errors import NoScriptError

Arg = str | bytes | int | float

# Sends one command and returns its reply: RedisPipe.execute, or execute_asking.
Send = Callable[..., Awaitable[Any]]


class Script:
    """A Lua script from service/redis_io/scripts, known by its SHA1, that reloads itself on
    NOSCRIPT."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def run(self, send: Send, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """EVALSHA through `send`, loading the script first if Redis has lost it."""
        try:
            return await send("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.reload(send, keys, args)

    async def reload(self, send: Send, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """After NOSCRIPT (a restart, SCRIPT FLUSH, a node that never had it): load, run again."""
        await send("SCRIPT", "LOAD", self.source)
        return await send("EVALSHA", self.sha, len(keys), *keys, *args)
