"""The pool-wide quota buckets (POOL_RATE_LIMIT): one per pool and quota category."""

from __future__ import annotations

from ..model import errors as e
from ..model.quotas import CATEGORY_RPS, OPERATIONS
from ..redis_io import lua
from ..redis_io.connect import Transport
from ..redis_io.keys import pool_bucket
from ..runtime.settings import Settings


def category_rate(settings: Settings, category: str) -> tuple[float, float]:
    """A category's refill rate and bucket size: the settings, else Cognito's default quota."""
    if category == "UserResourceRead":
        return settings.pool_rate_per_s, settings.pool_burst
    rate = settings.category_rates.get(category, CATEGORY_RPS[category])
    return rate, rate


async def take(pipe: Transport, settings: Settings, pool_id: str, operation: str) -> None:
    """Take one token from the pool's bucket of `operation`'s category, or refuse the call."""
    category = OPERATIONS[operation].category
    rate, burst = category_rate(settings, category)
    taken = await pipe.evalsha(lua.TAKE_TOKEN, (pool_bucket(pool_id, category),), (rate, burst))
    if not taken:
        raise e.TooManyRequestsException(e.THROTTLED, quota="pool")
