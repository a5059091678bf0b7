"""The one step every access-token operation shares: who is calling, and may they.

An operation declares its input shape, its script (the Lua session prelude plus its own body)
and its answer; this step validates the body, finds where the token's cached claims live,
runs the script once (a warm call is one EVALSHA), verifies and stores the claims on a miss,
applies the pool-wide quota, and turns the session's refusals into Cognito's errors.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from ..credentials import tokens
from ..credentials.pool import Pool
from ..credentials.pools import PoolRegistry, pools_version_reader
from ..model import errors as e
from ..model.quotas import OPERATIONS, USER_BUCKET_FIELDS
from ..model.validation import Member, validate
from ..redis_io.connect import Transport
from ..redis_io.script import Script
from ..runtime import metrics
from ..runtime.settings import Settings
from . import pool_quota
from .routes import NO_STORE, Route, RouteCache

Refusal = tuple[type[e.CognitoError], str]

# What the session prelude's answer codes mean on the wire.
REFUSALS: dict[bytes, Refusal] = {
    b"EXPIRED": (e.NotAuthorizedException, e.EXPIRED_TOKEN),
    b"NO_USER": (e.UserNotFoundException, e.USER_NOT_FOUND),
    b"REVOKED": (e.NotAuthorizedException, e.REVOKED_TOKEN),
    b"THROTTLED": (e.TooManyRequestsException, e.THROTTLED),
    b"DISABLED": (e.NotAuthorizedException, e.USER_DISABLED),
}
# Users whose status (Cognito's UserStatusType) holds no usable session. ARCHIVED, COMPROMISED,
# UNKNOWN and anything unknown or malformed are refused as a disabled user is (inferred: no
# capture of those answers exists); see docs/errors.md.
STATUSES: dict[bytes, Refusal] = {
    b"UNCONFIRMED": (e.UserNotConfirmedException, e.USER_NOT_CONFIRMED),
    b"RESET_REQUIRED": (e.PasswordResetRequiredException, e.PASSWORD_RESET_REQUIRED),
    b"FORCE_CHANGE_PASSWORD": (e.PasswordResetRequiredException, e.PASSWORD_RESET_REQUIRED),
}
REFUSED_STATUS: Refusal = (e.NotAuthorizedException, e.USER_DISABLED)


class TokenOperation:
    """One access-token operation: its shape, its script, its own keys and arguments, and its
    answer. Subclasses set the class attributes and override what differs."""

    name: str
    shape: tuple[Member, ...]
    script: Script
    # The session's refusals this operation answers differently (its model's error list).
    refusals: ClassVar[Mapping[bytes, Refusal]] = {}
    # Checked before the session: an operation on devices needs device tracking on.
    needs_device_tracking = True
    # It changes something: under a pool-wide quota it is admitted before it runs.
    writes = False

    def keys(self, route: Route, values: dict[str, Any]) -> tuple[str, ...]:
        return ()

    def args(self, route: Route, values: dict[str, Any]) -> tuple[Any, ...]:
        return ()

    def answer(self, reply: list[Any], route: Route, values: dict[str, Any]) -> bytes:
        raise NotImplementedError


class TokenStep:
    """Runs a TokenOperation for a request body; everything but the operation's own part."""

    def __init__(self, settings: Settings, registry: PoolRegistry, pipe: Transport) -> None:
        self.settings = settings
        self.registry = registry
        self.pipe = pipe
        self.routes = RouteCache(registry, settings.route_cache_size)
        self._read_version = pools_version_reader(pipe)
        self._skew_ms = int(settings.iat_skew_s * 1000)
        self._max_ttl_ms = settings.claims_cache_max_ttl_s * 1000

    def head(self, operation: TokenOperation) -> tuple[Any, ...]:
        """The session's bucket arguments for `operation` (fixed per worker)."""
        per_user = OPERATIONS[operation.name].per_user
        if per_user is None:
            return ("", 0, 0)
        s = self.settings
        return (USER_BUCKET_FIELDS[per_user], s.user_rate_per_s, s.user_burst)

    async def run(
        self, operation: TokenOperation, head: tuple[Any, ...], body: dict[str, Any]
    ) -> bytes:
        token: str | None = body.get("AccessToken")
        route = self.routes.get(token) if isinstance(token, str) else None
        # The token's pattern is matched only before an unverified token is judged (_verify):
        # a token whose claims are cached, here or in Redis, was verified, so it matched.
        # Matching a 1 KB token costs every request that misses the route cache.
        known: tuple[str, ...] = (token,) if isinstance(token, str) else ()
        try:
            values = validate(body, operation.shape, known=known)
        except e.InvalidParameterException:
            validate(body, operation.shape)  # every failure, the token's pattern among them
            raise
        token = values["AccessToken"]
        if token is None:
            raise e.NotAuthorizedException(e.INVALID_TOKEN)
        routed = route is not None
        if route is None:
            try:
                route = self._route(token, operation, values)
            except tokens.UnknownSigner:
                # Perhaps a pool, key or client made a moment ago: catch up once, then decide.
                if not await self.registry.catch_up():
                    raise
                route = self._route(token, operation, values)
        pool_limited = self.settings.pool_rate_limit
        if pool_limited and operation.writes:
            # A write the pool-wide quota refuses must change nothing: the session alone runs
            # first (a dry run), then the pool's token is taken, then the write, with the user's
            # bucket already charged. Three round trips, only with POOL_RATE_LIMIT on.
            reply, route = await self._execute(operation, head, token, route, values, dry=True)
            if reply[0] == b"ADMITTED":
                await pool_quota.take(self.pipe, self.settings, route.pool.id, operation.name)
                reply, route = await self._execute(operation, ("", 0, 0), token, route, values)
        else:
            # The warm path, written out: one EVALSHA with the route's precomputed keys and
            # arguments (each helper call or tuple rebuilt here costs every request).
            started = time.perf_counter()
            reply = await self.pipe.evalsha(
                operation.script,
                route.session_keys + operation.keys(route, values),
                head + route.warm_args + operation.args(route, values),
            )
            recorder = metrics.RECORDER
            recorder.redis_call(time.perf_counter() - started)
            if reply[0] == b"MISS":
                recorder.cache_misses += 1
                reply, route = await self._store(operation, head, token, route, values, 1)
            else:
                recorder.cache_hits += 1
                if not routed:
                    self.routes.offer(token, route)
        if reply[0] == b"OK":
            if pool_limited and not operation.writes:
                # Only calls the session admitted count against the pool. One the pool refuses
                # has still used its user token (as two independent quotas would).
                await pool_quota.take(self.pipe, self.settings, route.pool.id, operation.name)
            return operation.answer(reply, route, values)
        raise self._refusal(operation, reply)

    async def _execute(
        self,
        operation: TokenOperation,
        head: tuple[Any, ...],
        token: str,
        route: Route,
        values: dict[str, Any],
        dry: bool = False,
    ) -> tuple[list[Any], Route]:
        """The operation's script once (twice on a cache miss: verify, then store the claims).
        Returns its reply and the route the claims live at."""
        cached = 2 if dry else 0
        reply = await self.pipe.evalsha(
            operation.script,
            route.session_keys + operation.keys(route, values),
            (*head, route.skew_ms, cached, *NO_STORE, *operation.args(route, values)),
        )
        if reply[0] != b"MISS":
            if token not in self.routes:
                self.routes.put(token, route)
            return reply, route
        return await self._store(operation, head, token, route, values, cached + 1)

    async def _store(
        self,
        operation: TokenOperation,
        head: tuple[Any, ...],
        token: str,
        route: Route,
        values: dict[str, Any],
        mode: int,
    ) -> tuple[list[Any], Route]:
        """A cache miss: verify the token in process, then run the script again, storing its
        claims (mode 1, or 3 for a dry run). Returns the reply and the claims' route.

        Verified against the pools as Redis holds them now, not as this worker last loaded
        them: an admin write that narrows what tokens may do (a client removed, device tracking
        off) sweeps the pool's cached claims before it answers (store.sweep_claims), so the
        next request of each token lands here, on every worker. One version read (shared by
        concurrent misses), on the cold path only."""
        await self.registry.ensure_fresh(self._read_version)
        claims = await self._verify(token, operation, values)
        _check_pool(claims.pool, operation)
        if claims.pool is not route.pool or claims.username != route.username:
            # The pools were reloaded meanwhile, or the payload's claims were not what peek()
            # read: place the cache entry by the verified claims.
            route = Route(claims.pool, claims.username, token, self._skew_ms)
        store = (claims.exp, claims.issued, claims.origin_jti, claims.sub, self._max_ttl_ms)
        reply = await self.pipe.evalsha(
            operation.script,
            route.session_keys + operation.keys(route, values),
            (*head, route.skew_ms, mode, *store, *operation.args(route, values)),
        )
        if token not in self.routes:
            self.routes.put(token, route)
        return reply, route

    @staticmethod
    def _refusal(operation: TokenOperation, reply: list[Any]) -> Exception:
        code = reply[0]
        refusal = operation.refusals.get(code) or REFUSALS.get(code)
        if refusal is None:
            refusal = STATUSES.get(reply[1], REFUSED_STATUS) if code == b"STATUS" else None
        if refusal is None:
            return RuntimeError(f"{operation.name}: unexpected script answer {code!r}")
        cls, message = refusal
        return cls(message)

    def _route(self, token: str, operation: TokenOperation, values: dict[str, Any]) -> Route:
        hint = self.routes.locate(token)
        if hint is None:
            # Not even shaped like one of our pools' tokens: full verification says why.
            self._judge(token, operation, values)
            raise e.NotAuthorizedException(e.INVALID_TOKEN)
        pool, username, user = hint
        if pool.deleted or (operation.needs_device_tracking and not pool.device_tracking):
            # Verify before answering anything about the pool.
            _check_pool(self._judge(token, operation, values).pool, operation)
        return Route(pool, username, token, self._skew_ms, user)

    async def _verify(
        self, token: str, operation: TokenOperation, values: dict[str, Any]
    ) -> tokens.Claims:
        try:
            return self._judge(token, operation, values)
        except tokens.UnknownSigner:
            if not await self.registry.catch_up():
                raise
            return tokens.verify(token, self.registry)

    def _judge(
        self, token: str, operation: TokenOperation, values: dict[str, Any]
    ) -> tokens.Claims:
        """Verify a token nothing has verified yet, after the one check run() skipped: its
        pattern (an InvalidParameterException, as validation before anything else gives)."""
        validate(values, operation.shape)
        return tokens.verify(token, self.registry)


def _check_pool(pool: Pool, operation: TokenOperation) -> None:
    if pool.deleted:
        raise e.ResourceNotFoundException(e.pool_not_found(pool.id))
    if operation.needs_device_tracking and not pool.device_tracking:
        raise e.InvalidUserPoolConfigurationException(e.DEVICE_TRACKING_OFF)
