"""What can go wrong talking to Redis on the hot path, as types.

Error replies are typed once, where the transport hands replies to their waiters
(`resp.RedisProtocol.data_received` calls `reply_error`), so callers match on a class, never on
the text: a script reloads on `NoScriptError`, the cluster pipe follows `MovedError` and
`AskError` and backs off on `TryAgainError` and `ClusterDownError`. redis-py does the same where
it reads replies.
"""

from __future__ import annotations

from collections.abc import Callable


class RedisUnavailable(Exception):
    """Redis could not be reached, or did not answer in time."""


class RedisTimeout(RedisUnavailable):
    """A command's reply did not come within REDIS_TIMEOUT_S (the connection was closed)."""


class RedisOverloaded(Exception):
    """Too many commands are already waiting for Redis; the caller should shed load."""


class RedisReplyError(Exception):
    """Redis answered with an error reply (the message is the reply, as Redis wrote it)."""


class NoScriptError(RedisReplyError):
    """NOSCRIPT: the server does not have the script (restart, SCRIPT FLUSH, a new node)."""


class TryAgainError(RedisReplyError):
    """TRYAGAIN: a multi-key command on a slot whose keys are half migrated."""


class ClusterDownError(RedisReplyError):
    """CLUSTERDOWN: the cluster cannot serve the slot right now."""


class RedirectError(RedisReplyError):
    """The slot is served by another node: `host` ("" when Redis does not know it) and `port`."""

    kind = ""

    def __init__(self, slot: int, host: str, port: int) -> None:
        super().__init__(f"{self.kind} {slot} {host}:{port}")
        self.slot = slot
        self.host = host
        self.port = port


class MovedError(RedirectError):
    """MOVED: the slot now lives on another node; ask it from now on."""

    kind = "MOVED"


class AskError(RedirectError):
    """ASK: this one command goes to the node importing the slot, after ASKING."""

    kind = "ASK"


def _redirect(cls: type[RedirectError]) -> Callable[[str], RedisReplyError]:
    def parse(message: str) -> RedisReplyError:
        # "MOVED 3999 127.0.0.1:6381"; the host may be empty (":6381").
        _, slot, address = message.split(" ")
        host, _, port = address.rpartition(":")
        return cls(int(slot), host, int(port))

    return parse


# The first word of an error reply -> its type.
_BY_KIND: dict[str, Callable[[str], RedisReplyError]] = {
    "NOSCRIPT": NoScriptError,
    "TRYAGAIN": TryAgainError,
    "CLUSTERDOWN": ClusterDownError,
    "MOVED": _redirect(MovedError),
    "ASK": _redirect(AskError),
}


def reply_error(reply: RedisReplyError) -> RedisReplyError:
    """`reply` as its own type when its first word names one; else `reply` itself."""
    message = str(reply)
    make = _BY_KIND.get(message.partition(" ")[0])
    if make is None:
        return reply
    try:
        return make(message)
    except ValueError:  # a redirection we cannot read: leave it as Redis wrote it
        return reply
