"""Refreshing a session: InitiateAuth's REFRESH_TOKEN_AUTH / REFRESH_TOKEN (and
AdminInitiateAuth's), which mint new access and ID tokens from a refresh token.
"""

from __future__ import annotations

from typing import Any

from .. import errors as e
from .. import lua, refresh
from ..clients import AppClient
from ..pools import Pool
from .auth_input import (
    EXPIRED_REFRESH,
    FLOW_NOT_ENABLED,
    INVALID_REFRESH,
    REVOKED_REFRESH,
    _check_secret_hash,
    _missing,
)
from .auth_issue import Flow, _ordered
from .auth_steps import Attempt


class Refresher(Flow):
    """Refresh-token flows (one per worker, over the shared steps)."""

    async def refresh(
        self, pool: Pool, client: AppClient, params: dict[str, str]
    ) -> dict[str, Any]:
        """REFRESH_TOKEN_AUTH: new access and ID tokens, the same origin_jti and auth_time."""
        if not client.allows("ALLOW_REFRESH_TOKEN_AUTH"):
            raise e.InvalidParameterException(FLOW_NOT_ENABLED)
        token = params.get("REFRESH_TOKEN")
        if not token:
            raise _missing("REFRESH_TOKEN")
        claims = refresh.unseal(pool, token)
        if claims is None or claims.gen != pool.gen or claims.pool_id != pool.id:
            raise e.NotAuthorizedException(INVALID_REFRESH)
        if claims.client_id != client.id:
            raise e.NotAuthorizedException(INVALID_REFRESH)
        _check_secret_hash(
            client, params.get("SECRET_HASH"), params.get("USERNAME") or claims.username,
            claims.username, claims.sub,
        )  # fmt: skip
        attempt = Attempt(pool, client, claims.username, claims.device_key or None)
        iat = claims.iat or claims.exp - refresh.DEFAULT_TTL_S
        reply = await self.steps.pipe.evalsha(
            lua.AUTH_REFRESH,
            (attempt.keys.user, attempt.keys.refresh, attempt.device_hash()),
            (claims.sub, claims.origin_jti, client.id, iat * 1000, self.steps.client_ip()),
        )
        code = reply[0]
        if code == b"NO_USER":
            raise e.UserNotFoundException(e.USER_NOT_FOUND)
        if code == b"REVOKED":
            raise e.NotAuthorizedException(REVOKED_REFRESH)
        if code == b"DISABLED":
            raise e.NotAuthorizedException(e.USER_DISABLED)
        if code == b"STATUS":
            if reply[1] in (b"RESET_REQUIRED", b"FORCE_CHANGE_PASSWORD"):
                raise e.PasswordResetRequiredException(e.PASSWORD_RESET_REQUIRED)
            if reply[1] == b"UNCONFIRMED":
                raise e.UserNotConfirmedException(e.USER_NOT_CONFIRMED)
            raise e.NotAuthorizedException(e.USER_DISABLED)
        now = int(reply[1]) // 1000
        if claims.exp <= now:
            raise e.NotAuthorizedException(EXPIRED_REFRESH)
        result = self.issuer.mint(
            attempt,
            claims.sub,
            now=now,
            auth_time=claims.auth_time or now,
            origin_jti=claims.origin_jti,
            device_key=claims.device_key,
        )
        return {"AuthenticationResult": _ordered(result), "ChallengeParameters": {}}
