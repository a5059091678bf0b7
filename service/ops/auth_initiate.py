"""InitiateAuth's flows (and AdminInitiateAuth's): the password flows (USER_PASSWORD_AUTH,
ADMIN_USER_PASSWORD_AUTH, ADMIN_NO_SRP_AUTH), USER_SRP_AUTH's first step (PASSWORD_VERIFIER's
challenge), and REFRESH_TOKEN_AUTH / REFRESH_TOKEN.
"""

from __future__ import annotations

from typing import Any

from .. import errors as e
from .. import lua, refresh, srp
from ..clients import AppClient
from ..pools import Pool
from .auth_input import (
    EXPIRED_REFRESH,
    FLOW_NOT_ENABLED,
    FLOW_NOT_SUPPORTED,
    INVALID_REFRESH,
    REVOKED_REFRESH,
    USER_PASSWORD_FLOW_OFF,
    _check_secret_hash,
    _missing,
)
from .auth_issue import Flow, _ordered
from .auth_steps import Attempt


class Initiator(Flow):
    """The first request of a sign-in (one per worker, over the shared steps)."""

    async def initiate(
        self, pool: Pool, client: AppClient, flow: str, params: dict[str, str], *, admin: bool
    ) -> dict[str, Any]:
        """InitiateAuth's (admin=False) or AdminInitiateAuth's (admin=True) answer."""
        if flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
            return await self.refresh(pool, client, params)
        password_flows = (
            ("ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH") if admin else ("USER_PASSWORD_AUTH",)
        )
        if flow not in (*password_flows, "USER_SRP_AUTH"):
            raise e.InvalidParameterException(FLOW_NOT_SUPPORTED)
        if flow == "USER_PASSWORD_AUTH" and not client.allows("ALLOW_USER_PASSWORD_AUTH"):
            raise e.InvalidParameterException(USER_PASSWORD_FLOW_OFF)
        if flow == "USER_SRP_AUTH" and not client.allows("ALLOW_USER_SRP_AUTH"):
            raise e.InvalidParameterException(FLOW_NOT_ENABLED)
        if flow.startswith("ADMIN_") and not (
            client.allows("ALLOW_ADMIN_USER_PASSWORD_AUTH") or client.allows("ADMIN_NO_SRP_AUTH")
        ):
            raise e.InvalidParameterException(FLOW_NOT_ENABLED)
        username = params.get("USERNAME")
        if not username:
            raise _missing("USERNAME")
        if flow == "USER_SRP_AUTH":
            if not params.get("SRP_A"):
                raise _missing("SRP_A")
        elif not params.get("PASSWORD"):
            raise _missing("PASSWORD")
        _check_secret_hash(client, params.get("SECRET_HASH"), username)
        attempt = Attempt(pool, client, username, params.get("DEVICE_KEY") or None)
        # USER_SRP_AUTH proves nothing yet (its proof is PASSWORD_VERIFIER's); the others check
        # the password in this request.
        state = await self.steps.read(attempt, proves=flow != "USER_SRP_AUTH")
        if state.status == "RESET_REQUIRED":
            raise e.PasswordResetRequiredException(e.PASSWORD_RESET_REQUIRED)
        if flow == "USER_SRP_AUTH":
            if not state.verifier:
                raise await self.steps.failed(attempt, state)
            try:
                b_hex, key = srp.server_step(state.verifier, params["SRP_A"])
            except ValueError:
                raise e.InvalidParameterException("SRP_A is not a valid SRP value.") from None
            handle = await self.steps.challenge(
                attempt, state, "PASSWORD_VERIFIER", {"key": key.hex()}, password_ok=False
            )
            return {
                "ChallengeName": "PASSWORD_VERIFIER",
                "ChallengeParameters": {
                    "SALT": state.salt,
                    "SECRET_BLOCK": handle,
                    "SRP_B": b_hex,
                    "USERNAME": username,
                    "USER_ID_FOR_SRP": username,
                },
            }
        if not state.verifier or not srp.check_password(
            pool.id, username, params["PASSWORD"], state.salt, state.verifier
        ):
            raise await self.steps.failed(attempt, state)
        return await self.issuer.after_password(attempt, state)

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
