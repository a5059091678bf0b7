"""InitiateAuth's flows (and AdminInitiateAuth's): the password flows (USER_PASSWORD_AUTH,
ADMIN_USER_PASSWORD_AUTH, ADMIN_NO_SRP_AUTH) and USER_SRP_AUTH's first step (PASSWORD_VERIFIER's
challenge); REFRESH_TOKEN_AUTH / REFRESH_TOKEN go to auth_refresh.py.
"""

from __future__ import annotations

from typing import Any

from .. import errors as e
from .. import srp
from ..clients import AppClient
from ..pools import Pool
from .auth_input import (
    FLOW_NOT_ENABLED,
    FLOW_NOT_SUPPORTED,
    USER_PASSWORD_FLOW_OFF,
    _check_secret_hash,
    _missing,
)
from .auth_issue import Flow, Issuer
from .auth_refresh import Refresher
from .auth_steps import Attempt, Steps


class Initiator(Flow):
    """The first request of a sign-in (one per worker, over the shared steps)."""

    def __init__(self, steps: Steps, issuer: Issuer) -> None:
        super().__init__(steps, issuer)
        self.refresher = Refresher(steps, issuer)

    async def initiate(
        self, pool: Pool, client: AppClient, flow: str, params: dict[str, str], *, admin: bool
    ) -> dict[str, Any]:
        """InitiateAuth's (admin=False) or AdminInitiateAuth's (admin=True) answer."""
        if flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
            return await self.refresher.refresh(pool, client, params)
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
