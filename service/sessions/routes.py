"""Where a token's session lives, per worker: a Route (its pool, user keys and claims key, and
the session's precomputed keys and arguments) and the RouteCache of token -> Route, with the
hints that place a token it does not hold."""

from __future__ import annotations

import random
from typing import Any

from ..credentials import tokens
from ..credentials.pool import Pool
from ..credentials.pools import PoolRegistry
from ..redis_io.keys import UserKeys
from .cache import BoundedCache
from .peek import Hints, locate

# Cache of token -> where its claims live, so a warm request skips decoding and digesting.
# Bounded (ROUTE_CACHE_SIZE, 16,384 by default); oldest entries go first. Cleared whenever the
# pools change. About 1.4 KB per token (this service's 940-character tokens): 23 MB per worker
# by default, measured full.
# What the session passes when it stores nothing (store=0): exp, iat, ojti, sub, max_ttl.
NO_STORE = ("", "", "", "", "")
_WARM_ARGS = (0, 0, *NO_STORE)


class Route:
    """Where one verified token's session lives: its pool, user keys and claims key."""

    __slots__ = (
        "claims_key",
        "pool",
        "session_keys",
        "skew_ms",
        "user_keys",
        "username",
        "warm_args",
    )

    def __init__(
        self, pool: Pool, username: str, token: str, skew_ms: int, user: UserRoute | None = None
    ) -> None:
        self.pool = pool
        self.username = username
        if user is None:
            user = user_route(pool, username)
        self.user_keys = uk = user[0]
        self.claims_key = user[2] + tokens.digest(token)
        self.skew_ms = skew_ms if pool.external else 0
        # Built once per token, not per request: the session's keys, and its arguments after
        # the bucket's when the claims are cached (skew, store=0, nothing to store); those
        # are one shared tuple for the pool's own tokens.
        self.session_keys: tuple[str, ...] = (self.claims_key, uk.base, user[1])
        self.warm_args: tuple[Any, ...] = (
            (self.skew_ms, 0, *NO_STORE) if self.skew_ms else _WARM_ARGS
        )


# The share of new routes a full route cache takes (RouteCache.offer).
ADMIT_WHEN_FULL = 0.25
# One user's keys that the user's Routes share: its UserKeys, its revoked set's key, and what
# its claims keys start with.
UserRoute = tuple[UserKeys, str, str]
# What a token's hint names (RouteCache.locate): its pool, its username and the user's keys.
Hint = tuple[Pool, str, UserRoute]


def user_route(pool: Pool, username: str) -> UserRoute:
    uk = UserKeys(pool.id, pool.gen, username)
    return uk, uk.revoked, uk.claims("")


class RouteCache(BoundedCache[str, Route]):
    """token -> Route, per worker, and the hints that place a token it does not hold (`hints`,
    peek.py). Both are emptied when the pools change (they hold Pool objects).

    A miss of a user already seen costs a hint lookup (one dict lookup and two comparisons),
    the token's digest and the Route. In a quiet loop at 40,000 tokens of 1,000 users, finding
    a request's route costs 2.5 us on average (0.5 at 1,000 tokens), against 2.7 when the
    hints and the users' keys were two memos."""

    def __init__(self, registry: PoolRegistry, limit: int) -> None:
        super().__init__(limit)
        self.registry = registry
        self.hints: Hints[Hint] = Hints(limit)
        registry.on_change.append(self.clear)
        registry.on_change.append(self.hints.clear)

    def offer(self, token: str, route: Route) -> None:
        """Remember a route the warm path has just used. Once the cache is full, only a share
        of such routes (ADMIT_WHEN_FULL) is taken, at random: when more tokens are in use than
        the cache holds, the hit rate is about its size over theirs whichever tokens it keeps,
        so taking every miss would only churn it (an insert, a batch of evictions, and the
        collector moving what survives), while a token in steady use is still taken within
        a few requests."""
        # "Full": within one eviction batch of the limit, where an eviction leaves it.
        if len(self) + self._batch < self.limit or random.random() < ADMIT_WHEN_FULL:
            self.put_new(token, route)

    def locate(self, token: str) -> Hint | None:
        """Where `token` claims its session is, unverified (peek.py); None if it is not
        shaped like one of the pools' tokens."""
        hint = self.hints.get(token)
        if hint is None:
            found = locate(token, self.registry)
            if found is None:
                return None
            pool, username, tail = found
            hint = (pool, username, user_route(pool, username))
            if tail:
                self.hints.put(token, tail, hint)
        return hint
