"""What a sign-in issues once its password (or SRP proof) is right: NEW_PASSWORD_REQUIRED for a
FORCE_CHANGE_PASSWORD user, DEVICE_SRP_AUTH for a confirmed device the request presents, and
otherwise the tokens (access, ID, refresh), registering a new device when the pool tracks
devices and none was presented.
"""

from __future__ import annotations

import secrets
import string
import uuid
from typing import Any

from ..credentials import refresh, tokens
from ..model import errors as e
from ..redis_io import lua
from .auth_input import SESSION_EXPIRED
from .auth_steps import Attempt, Steps, UserState, reset_required

_GROUP_ALPHABET = string.ascii_letters + string.digits


class Issuer:
    """The sign-in's outcome after the password (one per worker, over the shared steps)."""

    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    # -- after the password ----------------------------------------------------------------
    async def after_password(self, attempt: Attempt, state: UserState) -> dict[str, Any]:
        """The password (or its SRP proof) was right: the next challenge, or tokens."""
        status = state.status
        if status == "UNCONFIRMED":
            await self.steps.right_but_refused(attempt, state)
            raise e.UserNotConfirmedException(e.USER_NOT_CONFIRMED)
        if status == "RESET_REQUIRED":
            raise reset_required(attempt.client)
        if status == "FORCE_CHANGE_PASSWORD":
            handle = await self.steps.challenge(
                attempt, state, "NEW_PASSWORD_REQUIRED", {}, password_ok=True
            )
            return {
                "ChallengeName": "NEW_PASSWORD_REQUIRED",
                "ChallengeParameters": {
                    "USER_ID_FOR_SRP": attempt.username,
                    "requiredAttributes": "[]",
                    "userAttributes": "{}",
                },
                "Session": handle,
            }
        if status not in ("CONFIRMED", "EXTERNAL_PROVIDER"):
            await self.steps.right_but_refused(attempt, state)
            raise e.NotAuthorizedException(e.USER_DISABLED)
        return await self.after_new_password(attempt, state, {})

    async def after_new_password(
        self, attempt: Attempt, state: UserState, user_fields: dict[str, str]
    ) -> dict[str, Any]:
        if attempt.device_key and state.device_confirmed and state.device_verifier:
            # A remembered device proves itself next (what AWS's client libraries expect).
            handle = await self.steps.challenge(
                attempt, state, "DEVICE_SRP_AUTH", user_fields, password_ok=True
            )
            return {
                "ChallengeName": "DEVICE_SRP_AUTH",
                "ChallengeParameters": {},
                "Session": handle,
            }
        return await self.tokens(attempt, state, user_fields)

    async def tokens(
        self, attempt: Attempt, state: UserState, user_fields: dict[str, str]
    ) -> dict[str, Any]:
        """Mint the sign-in's tokens (access, ID, refresh), registering a new device when the
        pool tracks devices and none was presented. `user_fields` (a new password) are written
        only if the password is still the one this sign-in's session began with."""
        pool, client = attempt.pool, attempt.client
        sub = state.sub
        mode, device_key, group = "", attempt.device_key or "", ""
        if device_key:
            mode = "seen"
        elif pool.device_tracking:
            mode = "new"
            device_key = f"{pool.region}_{uuid.uuid4()}"
            group = "-" + "".join(secrets.choice(_GROUP_ALPHABET) for _ in range(9))
        origin_jti = str(uuid.uuid4())
        uk = attempt.keys
        flat = [item for pair in user_fields.items() for item in pair]
        issued_ms = await self.steps.pipe.evalsha(
            lua.AUTH_OK,
            (uk.user, uk.devices, uk.device(device_key), uk.refresh),
            (sub, mode, device_key, group, self.steps.client_ip(), origin_jti, client.id,
             state.salt if flat else "", *flat),
        )  # fmt: skip
        if issued_ms is None:
            raise e.UserNotFoundException(e.USER_NOT_FOUND)
        if issued_ms == b"STALE":
            # A password change won the race with this sign-in's new password (auth_ok.lua).
            raise e.NotAuthorizedException(SESSION_EXPIRED)
        issued_ms = int(issued_ms)
        now = issued_ms // 1000
        result = self.mint(
            attempt,
            sub,
            issued_ms=issued_ms,
            auth_time=now,
            origin_jti=origin_jti,
            device_key=device_key,
        )
        result["RefreshToken"] = refresh.seal(
            pool,
            refresh.RefreshClaims(
                pool_id=pool.id,
                gen=pool.gen,
                username=attempt.username,
                sub=sub,
                client_id=client.id,
                origin_jti=origin_jti,
                exp=now + client.refresh_token_s,
                iat=now,
                auth_time=now,
                device_key=device_key,
                issued_ms=issued_ms,
            ),
        )
        if mode == "new":
            result["NewDeviceMetadata"] = {"DeviceKey": device_key, "DeviceGroupKey": group}
        return {"AuthenticationResult": _ordered(result), "ChallengeParameters": {}}

    def mint(
        self,
        attempt: Attempt,
        sub: str,
        *,
        issued_ms: int,
        auth_time: int,
        origin_jti: str,
        device_key: str,
    ) -> dict[str, Any]:
        """Access and ID tokens (one event_id and origin_jti, each its own jti), issued at
        `issued_ms` (Redis's clock, later than the user's last sign-out)."""
        pool, client = attempt.pool, attempt.client
        revocable = client.enable_token_revocation
        event_id = str(uuid.uuid4())
        access = tokens.issue(
            pool=pool,
            signing_kid=pool.kid,
            signing_key=tokens.private_key(pool.private_pem),
            sub=sub,
            username=attempt.username,
            client_id=client.id,
            ttl_s=client.access_token_s,
            device_key=device_key or None,
            issued_ms=issued_ms,
            origin_jti=origin_jti,
            event_id=event_id,
            auth_time=auth_time,
            revocable=revocable,
        )
        id_token = tokens.issue_id(
            pool=pool,
            signing_kid=pool.id_kid,
            signing_key=tokens.private_key(pool.id_private_pem),
            sub=sub,
            username=attempt.username,
            client_id=client.id,
            origin_jti=origin_jti,
            event_id=event_id,
            auth_time=auth_time,
            now=issued_ms // 1000,
            ttl_s=client.id_token_s,
            revocable=revocable,
        )
        return {
            "AccessToken": access,
            "ExpiresIn": client.access_token_s,
            "IdToken": id_token,
            "TokenType": "Bearer",
        }


def _ordered(result: dict[str, Any]) -> dict[str, Any]:
    """AuthenticationResult's members in the order real answers list them."""
    order = ("AccessToken", "ExpiresIn", "IdToken", "NewDeviceMetadata", "RefreshToken")
    ordered = {name: result[name] for name in order if name in result}
    ordered["TokenType"] = result["TokenType"]
    return ordered


class Flow:
    """What a request's flows work with: the shared steps and the issuer."""

    def __init__(self, steps: Steps, issuer: Issuer) -> None:
        self.steps = steps
        self.issuer = issuer
