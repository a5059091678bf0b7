"""API operations: one handler per operation, taking the decoded body, returning JSON bytes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import errors as e
from . import lua, metrics, tokens
from .connect import Transport
from .devices import device_object, get_device_response
from .keys import UserKeys, pool_bucket
from .pools import Pool, PoolRegistry
from .settings import Settings
from .validation import GET_DEVICE_INPUT, validate

Operation = Callable[[dict[str, Any]], Awaitable[bytes]]

# Cache of token -> where its claims live, so a warm request skips decoding and digesting.
# Bounded; oldest entries go first. Cleared whenever the pools change.
# About 1.6 KB per token: at most ~26 MB per worker.
ROUTE_CACHE_MAX = 16384
# Answers already serialised, by (pool, script reply); oldest go first.
BODY_CACHE_MAX = 16384


class Route:
    __slots__ = ("claims_key", "digest", "pool", "skew_ms", "user_keys", "username")

    def __init__(self, pool: Pool, username: str, token: str, skew_ms: int) -> None:
        self.pool = pool
        self.username = username
        self.user_keys = UserKeys(pool.id, pool.gen, username)
        self.digest = tokens.digest(token)
        self.claims_key = self.user_keys.claims(self.digest)
        self.skew_ms = skew_ms if pool.external else 0


def _check_pool(pool: Pool) -> None:
    if pool.deleted:
        raise e.ResourceNotFoundException(e.pool_not_found(pool.id))
    if not pool.device_tracking:
        raise e.InvalidUserPoolConfigurationException(e.DEVICE_TRACKING_OFF)


# What get_device.lua's answer codes mean on the wire.
_ANSWERS: dict[bytes, tuple[type[e.CognitoError], str]] = {
    b"EXPIRED": (e.NotAuthorizedException, e.EXPIRED_TOKEN),
    b"NO_USER": (e.UserNotFoundException, e.USER_NOT_FOUND),
    b"REVOKED": (e.NotAuthorizedException, e.REVOKED_TOKEN),
    b"THROTTLED": (e.TooManyRequestsException, e.THROTTLED),
    b"DISABLED": (e.NotAuthorizedException, e.USER_DISABLED),
    b"NO_DEVICE": (e.ResourceNotFoundException, e.DEVICE_NOT_FOUND),
}
# Users whose status (Cognito's UserStatusType) holds no usable session. ARCHIVED, COMPROMISED,
# UNKNOWN and anything unknown or malformed are refused as a disabled user is (inferred: no
# capture of those answers exists); see the README's error table.
_STATUSES: dict[bytes, tuple[type[e.CognitoError], str]] = {
    b"UNCONFIRMED": (e.UserNotConfirmedException, e.USER_NOT_CONFIRMED),
    b"RESET_REQUIRED": (e.PasswordResetRequiredException, e.PASSWORD_RESET_REQUIRED),
    b"FORCE_CHANGE_PASSWORD": (e.PasswordResetRequiredException, e.PASSWORD_RESET_REQUIRED),
}
_REFUSED_STATUS = (e.NotAuthorizedException, e.USER_DISABLED)


class GetDevice:
    """GetDevice: verify the token, then one script does everything else (get_device.lua)."""

    def __init__(self, settings: Settings, registry: PoolRegistry, pipe: Transport) -> None:
        self.settings = settings
        self.registry = registry
        self.pipe = pipe
        self._bucket_args = (settings.user_rate_per_s, settings.user_burst)
        self._skew_ms = int(settings.iat_skew_s * 1000)
        self._max_ttl_ms = settings.claims_cache_max_ttl_s * 1000
        self._bodies: dict[tuple[Any, ...], bytes] = {}

    def _route(self, token: str) -> Route:
        peeked = tokens.peek(token, self.registry)
        if peeked is None:
            # Not even shaped like one of our pools' tokens: full verification says why.
            tokens.verify(token, self.registry)
            raise e.NotAuthorizedException(e.INVALID_TOKEN)
        pool, username = peeked
        if pool.deleted or not pool.device_tracking:
            # Verify before answering anything about the pool.
            _check_pool(tokens.verify(token, self.registry).pool)
        return Route(pool, username, token, self._skew_ms)

    async def _route_caught_up(self, token: str) -> Route:
        try:
            return self._route(token)
        except tokens.UnknownSigner:
            # Perhaps a pool, key or client made a moment ago: catch up once, then decide.
            if not await self.registry.catch_up():
                raise
            return self._route(token)

    async def _verify(self, token: str) -> tokens.Claims:
        try:
            return tokens.verify(token, self.registry)
        except tokens.UnknownSigner:
            if not await self.registry.catch_up():
                raise
            return tokens.verify(token, self.registry)

    async def __call__(self, body: dict[str, Any]) -> bytes:
        values = validate(body, GET_DEVICE_INPUT, known=self.registry.routes)
        token = values["AccessToken"]
        device_key = values["DeviceKey"]
        assert device_key is not None  # validate() enforces `required`
        if token is None:
            raise e.NotAuthorizedException(e.INVALID_TOKEN)
        route = self.registry.routes.get(token) or await self._route_caught_up(token)
        uk = route.user_keys
        script_keys = (route.claims_key, uk.base, uk.revoked, uk.device(device_key))
        head = (*self._bucket_args, route.skew_ms)
        recorder = metrics.RECORDER
        started = time.perf_counter()
        reply = await self.pipe.evalsha(lua.GET_DEVICE, script_keys, (*head, 0))
        recorder.redis_call(time.perf_counter() - started)
        if reply[0] != b"MISS":
            recorder.cache_hits += 1
        else:
            recorder.cache_misses += 1
            claims = await self._verify(token)
            _check_pool(claims.pool)
            if claims.pool is not route.pool or claims.username != route.username:
                # The pools were reloaded meanwhile, or the payload's claims were not what
                # peek() read: place the cache entry by the verified claims.
                route = Route(claims.pool, claims.username, token, self._skew_ms)
                uk = route.user_keys
                script_keys = (route.claims_key, uk.base, uk.revoked, uk.device(device_key))
                head = (*self._bucket_args, route.skew_ms)
            store_args = (
                claims.exp, claims.iat, claims.origin_jti, claims.sub, self._max_ttl_ms,
                route.digest,
            )  # fmt: skip
            reply = await self.pipe.evalsha(
                lua.GET_DEVICE, (*script_keys, uk.claims_index), (*head, 1, *store_args)
            )
        routes = self.registry.routes
        if token not in routes:
            if len(routes) >= ROUTE_CACHE_MAX:
                del routes[next(iter(routes))]
            routes[token] = route
        if self.settings.pool_rate_limit and reply[0] == b"OK":
            # Only requests the user's bucket admitted count against the pool. One the pool
            # refuses has still used its user token (as two independent quotas would).
            await self._take_pool_token(route.pool)
        return self._answer(reply, route)

    async def _take_pool_token(self, pool: Pool) -> None:
        s = self.settings
        taken = await self.pipe.evalsha(
            lua.TAKE_TOKEN, (pool_bucket(pool.id),), (s.pool_rate_per_s, s.pool_burst)
        )
        if not taken:
            raise e.TooManyRequestsException(e.THROTTLED)

    def _answer(self, reply: list[Any], route: Route) -> bytes:
        code = reply[0]
        if code == b"OK":
            # The answer is a pure function of the pool, user and the script's reply: serve
            # repeats from a bounded memo instead of building the same JSON again.
            pool = route.pool
            memo_key = (pool.id, route.username, *reply[1:])
            body = self._bodies.get(memo_key)
            if body is None:
                device = device_object(
                    reply[1:],
                    username=route.username,
                    pool_id=pool.id,
                    account_id=self.settings.account_id,
                )
                body = get_device_response(device)
                if len(self._bodies) >= BODY_CACHE_MAX:
                    del self._bodies[next(iter(self._bodies))]
                self._bodies[memo_key] = body
            return body
        if code == b"STATUS":
            cls, message = _STATUSES.get(reply[1], _REFUSED_STATUS)
        else:
            cls, message = _ANSWERS[code]
        raise cls(message)


def operations(settings: Settings, registry: PoolRegistry, pipe: Transport) -> dict[str, Operation]:
    """The operations this service serves, by name."""
    return {"GetDevice": GetDevice(settings, registry, pipe)}
