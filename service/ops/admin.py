"""What every admin (SigV4-signed) operation shares: validation, the pool and user lookups with
the model's errors, the account-wide quota, and turning store refusals into Cognito's errors.

The signature itself is checked by dispatch (service/http/api.py) before any of this runs. Admin
operations take UserPoolId and Username, not an access token: they are plain async functions
over redis-py (and small scripts in the user's slot), never on the access-token hot path.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
import redis.asyncio as aioredis

from .. import store
from ..model import errors as e
from ..model.validation import Member, StringMember, validate
from ..redis_io import keys
from ..redis_io.connect import Transport
from ..runtime.settings import Settings
from ..sessions import pool_quota

AdminOperation = Callable[[dict[str, Any]], Awaitable[bytes]]

POOL_ID = StringMember(
    "UserPoolId", required=True, min_len=1, max_len=55, pattern=r"[\w-]+_[0-9a-zA-Z]+"
)
# UsernameType's pattern is [\p{L}\p{M}\p{S}\p{N}\p{P}]+, which Python's re cannot say: the
# length is checked here, the pattern by check_username() below.
USERNAME = StringMember("Username", required=True, min_len=1, max_len=128, sensitive=True)
USERNAME_PATTERN = r"[\p{L}\p{M}\p{S}\p{N}\p{P}]+"


def check_username(value: str | None) -> None:
    """UsernameType's pattern, with Cognito's message (the member is sensitive)."""
    if value and any(unicodedata.category(ch)[0] not in "LMSNP" for ch in value):
        raise e.InvalidParameterException(
            "1 validation error detected: Value at 'username' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {USERNAME_PATTERN}"
        )


def bool_member(body: dict[str, Any], name: str) -> bool | None:
    """A boolean member, or SerializationException for another JSON type."""
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise e.SerializationException(
        f"{type(value).__name__.upper()}_VALUE can not be converted to a Boolean"
    )


def date(ms: str | int | None) -> float | None:
    return None if ms is None or ms == "" else int(ms) / 1000


def dumps(doc: Any) -> bytes:
    return orjson.dumps(doc)


class AdminContext:
    """What admin operations need: the settings, redis-py, and the hot pipe (quota buckets)."""

    def __init__(self, settings: Settings, r: aioredis.Redis | None, pipe: Transport | None):
        self.settings = settings
        self._r = r
        self.pipe = pipe

    @property
    def r(self) -> aioredis.Redis:
        if self._r is None:
            raise RuntimeError("admin operations need a Redis client")
        return self._r

    def validate(self, body: dict[str, Any], shape: tuple[Member, ...]) -> dict[str, Any]:
        values = validate(body, shape)
        if "Username" in values:
            check_username(values["Username"])
        return values

    async def quota(self, operation: str, pool_id: str = keys.ACCOUNT_SCOPE) -> None:
        """The operation's category bucket (account-wide here: per pool, or for calls that
        name no pool, one account bucket), when POOL_RATE_LIMIT is on."""
        if self.settings.pool_rate_limit and self.pipe is not None:
            await pool_quota.take(self.pipe, self.settings, pool_id, operation)

    async def pool(self, pool_id: str) -> dict[str, str]:
        """The live pool's record, or ResourceNotFoundException as Cognito words it."""
        try:
            return await store.pool_record(self.r, pool_id)
        except store.StoreError:
            raise e.ResourceNotFoundException(e.pool_not_found(pool_id)) from None

    async def user(self, pool_id: str, username: str) -> tuple[store.User, dict[str, str]]:
        try:
            return await store.user_record(self.r, pool_id, username)
        except store.StoreError:
            raise e.UserNotFoundException(e.USER_NOT_FOUND) from None


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """Store refusals as the model's errors."""
    try:
        yield
    except store.InvalidInput as exc:
        raise e.InvalidParameterException(str(exc)) from None
    except store.StoreError as exc:
        message = str(exc)
        if message == e.USER_NOT_FOUND:
            raise e.UserNotFoundException(message) from None
        if message == e.USER_NOT_FOUND.replace("User", "Device"):
            raise e.ResourceNotFoundException(e.DEVICE_NOT_FOUND) from None
        if message.startswith("User pool "):
            raise e.ResourceNotFoundException(message) from None
        if message == e.USERNAME_EXISTS:
            raise e.UsernameExistsException(message) from None
        raise e.InvalidParameterException(message) from None
