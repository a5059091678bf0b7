"""Refreshing a session: GetTokensFromRefreshToken, and InitiateAuth's REFRESH_TOKEN_AUTH /
REFRESH_TOKEN (and AdminInitiateAuth's), which mint new access and ID tokens from a refresh token.

Under the app client's RefreshTokenRotation (the developer guide's "Refresh tokens"), every
GetTokensFromRefreshToken also answers a new refresh token, valid for what was left of the old
one's life, and the old one stops working after RetryGracePeriodSeconds; REFRESH_TOKEN_AUTH is
refused on such a client ("You can't authenticate with REFRESH_TOKEN_AUTH in app clients with
refresh token rotation enabled"). A rotated-out token presented after its grace period gets
RefreshTokenReuseException and revokes its whole family (the newest refresh token and every
access token of the sign-in): the guide does not say what a reuse revokes; this is the OAuth 2.0
Security BCP's answer to a replayed refresh token (RFC 9700, section 4.14.2).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Any

from ..credentials import refresh
from ..credentials.pool import Pool
from ..credentials.refresh import RefreshClaims
from ..model import errors as e
from ..model.clients import AppClient
from ..redis_io import lua
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

# Inferred: no capture of these messages was found.
REUSED_REFRESH = "Refresh Token has been reused"
NO_CLIENT_SECRET = "Client {} is configured with secret but ClientSecret was not received"  # noqa: S105
BAD_CLIENT_SECRET = "Unable to verify secret for client {}"  # noqa: S105 (a message)


class Refresher(Flow):
    """Refresh-token flows (one per worker, over the shared steps)."""

    async def refresh(
        self, pool: Pool, client: AppClient, params: dict[str, str]
    ) -> dict[str, Any]:
        """REFRESH_TOKEN_AUTH: new access and ID tokens, the same origin_jti and auth_time."""
        if not client.allows("ALLOW_REFRESH_TOKEN_AUTH") or client.refresh_rotation:
            raise e.InvalidParameterException(FLOW_NOT_ENABLED)
        token = params.get("REFRESH_TOKEN")
        if not token:
            raise _missing("REFRESH_TOKEN")
        claims = _unseal(pool, client, token)
        # AWS's "Computing secret hash values": the hash of a refresh names the token's user
        # (its username, or its sub), never whichever USERNAME the request chooses to name.
        _check_secret_hash(client, params.get("SECRET_HASH"), claims.username, claims.sub)
        result, _, _ = await self._renew(pool, client, claims, None, rotate=False)
        return {"AuthenticationResult": _ordered(result), "ChallengeParameters": {}}

    async def get_tokens(
        self,
        pool: Pool,
        client: AppClient,
        token: str,
        client_secret: str | None,
        device_key: str | None,
    ) -> dict[str, Any]:
        """GetTokensFromRefreshToken's answer: new access and ID tokens, and a new refresh
        token when the client rotates them."""
        if client.secret is not None:
            if not client_secret:
                raise e.NotAuthorizedException(NO_CLIENT_SECRET.format(client.id))
            if not hmac.compare_digest(client_secret.encode(), client.secret.encode()):
                raise e.NotAuthorizedException(BAD_CLIENT_SECRET.format(client.id))
        if not client.refresh_rotation and not client.allows("ALLOW_REFRESH_TOKEN_AUTH"):
            raise e.InvalidParameterException(FLOW_NOT_ENABLED)
        claims = _unseal(pool, client, token)
        result, issued_ms, step = await self._renew(
            pool, client, claims, device_key, rotate=client.refresh_rotation
        )
        if client.refresh_rotation:
            # The next step of the family, for what was left of the old token's life.
            result["RefreshToken"] = refresh.seal(
                pool,
                replace(
                    claims,
                    iat=issued_ms // 1000,
                    issued_ms=issued_ms,
                    step=step,
                    device_key=device_key or claims.device_key,
                ),
            )
        return {"AuthenticationResult": _ordered(result)}

    async def _renew(
        self,
        pool: Pool,
        client: AppClient,
        claims: RefreshClaims,
        device_key: str | None,
        *,
        rotate: bool,
    ) -> tuple[dict[str, Any], int, int]:
        """Check the refresh token against Redis (auth_refresh.lua) and mint the new access and
        ID tokens: their answer, when they were issued (ms) and the step a new refresh token
        takes."""
        device = device_key or claims.device_key
        attempt = Attempt(pool, client, claims.username, device or None)
        uk = attempt.keys
        reply = await self.steps.pipe.evalsha(
            lua.AUTH_REFRESH,
            (uk.user, uk.refresh, attempt.device_hash(), uk.revoked),
            (
                claims.sub,
                claims.origin_jti,
                client.id,
                claims.issued(),
                self.steps.client_ip(),
                claims.step,
                "1" if rotate else "0",
                client.retry_grace_s * 1000,
                "1" if device_key else "0",
                claims.exp * 1000,
            ),
        )
        code = reply[0]
        if code != b"OK":
            raise _refusal(code, reply)
        issued_ms = int(reply[1])
        result = self.issuer.mint(
            attempt,
            claims.sub,
            issued_ms=issued_ms,
            auth_time=claims.auth_time or issued_ms // 1000,
            origin_jti=claims.origin_jti,
            device_key=device,
        )
        return result, issued_ms, int(reply[2])


def _unseal(pool: Pool, client: AppClient, token: str) -> RefreshClaims:
    """What a refresh token of this pool and client names; NotAuthorizedException otherwise
    (a token of another client is refused as invalid: it binds to the client it was issued to)."""
    claims = refresh.unseal(pool, token)
    if claims is None or claims.gen != pool.gen or claims.pool_id != pool.id:
        raise e.NotAuthorizedException(INVALID_REFRESH)
    if claims.client_id != client.id:
        raise e.NotAuthorizedException(INVALID_REFRESH)
    return claims


def _refusal(code: bytes, reply: list[Any]) -> e.CognitoError:
    if code == b"NO_USER":
        return e.UserNotFoundException(e.USER_NOT_FOUND)
    if code == b"REVOKED":
        return e.NotAuthorizedException(REVOKED_REFRESH)
    if code == b"EXPIRED":
        return e.NotAuthorizedException(EXPIRED_REFRESH)
    if code == b"REUSED":
        return e.RefreshTokenReuseException(REUSED_REFRESH)
    if code == b"NO_DEVICE":
        return e.ResourceNotFoundException(e.DEVICE_NOT_FOUND)
    if code == b"STATUS":
        if reply[1] in (b"RESET_REQUIRED", b"FORCE_CHANGE_PASSWORD"):
            return e.PasswordResetRequiredException(e.PASSWORD_RESET_REQUIRED)
        if reply[1] == b"UNCONFIRMED":
            return e.UserNotConfirmedException(e.USER_NOT_CONFIRMED)
    return e.NotAuthorizedException(e.USER_DISABLED)
