"""InitiateAuth's flows (and AdminInitiateAuth's): the password flows (USER_PASSWORD_AUTH,
ADMIN_USER_PASSWORD_AUTH, ADMIN_NO_SRP_AUTH) and USER_SRP_AUTH's first step (PASSWORD_VERIFIER's
challenge); REFRESH_TOKEN_AUTH / REFRESH_TOKEN go to auth_refresh.py.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..credentials import srp
from ..credentials.pool import Pool
from ..model import errors as e
from ..model.clients import AppClient
from .auth_handles import seal_session
from .auth_input import (
    FLOW_NOT_ENABLED,
    FLOW_NOT_SUPPORTED,
    USER_PASSWORD_FLOW_OFF,
    _check_secret_hash,
    _missing,
)
from .auth_issue import Flow, Issuer
from .auth_refresh import Refresher
from .auth_steps import Attempt, Steps, reset_required


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
        hide = client.prevent_user_existence_errors
        # USER_SRP_AUTH proves nothing yet (its proof is PASSWORD_VERIFIER's); the others check
        # the password in this request.
        try:
            state = await self.steps.read(attempt, proves=flow != "USER_SRP_AUTH")
        except e.UserNotFoundException:
            if not hide:
                raise
            return self._unknown_user(attempt, flow, params)
        if state.status == "RESET_REQUIRED":
            raise reset_required(client)
        salt, verifier = state.salt, state.verifier
        if not verifier and hide:
            # A user with no password is answered as one who does not exist would be.
            salt, verifier = srp.simulated(pool.secret, pool.id, username)
        if flow == "USER_SRP_AUTH":
            if not verifier:
                raise await self.steps.failed(attempt, state)
            b_hex, key = _server_step(verifier, params["SRP_A"])
            handle = await self.steps.challenge(
                attempt, state, "PASSWORD_VERIFIER", {"key": key.hex()}, password_ok=False
            )
            return _verifier_challenge(username, salt, b_hex, handle)
        if not verifier or not srp.check_password(
            pool.id, username, params["PASSWORD"], salt, verifier
        ):
            raise await self.steps.failed(attempt, state)
        return await self.issuer.after_password(attempt, state)

    def _unknown_user(self, attempt: Attempt, flow: str, params: dict[str, str]) -> dict[str, Any]:
        """PreventUserExistenceErrors: a user who does not exist gets what a wrong password
        gets, at the same cost (the developer guide's "Managing user existence error
        responses"). The password flows derive a verifier from the password and a simulated
        salt, as a real user's check does, and refuse it. USER_SRP_AUTH answers a simulated
        PASSWORD_VERIFIER challenge (the same SALT every time for the name, a real SRP_B), whose
        session is never stored: its proof fails in RespondToAuthChallenge (Steps.consume).
        Medians of 50 calls over boto3: 8 ms either way for a password; before, a bare "no
        such user" answered in 2 ms (and SRP's first step in 2 ms against 22 ms)."""
        pool, username = attempt.pool, attempt.username
        salt, verifier = srp.simulated(pool.secret, pool.id, username)
        if flow == "USER_SRP_AUTH":
            b_hex, _ = _server_step(verifier, params["SRP_A"])
            handle = seal_session(pool, username, secrets.token_urlsafe(24), attempt.responses)
            return _verifier_challenge(username, salt, b_hex, handle)
        srp.check_password(pool.id, username, params["PASSWORD"], salt, verifier)
        raise e.NotAuthorizedException(e.INCORRECT_PASSWORD)


def _server_step(verifier: str, a_hex: str) -> tuple[str, bytes]:
    try:
        return srp.server_step(verifier, a_hex)
    except ValueError:
        raise e.InvalidParameterException("SRP_A is not a valid SRP value.") from None


def _verifier_challenge(username: str, salt: str, b_hex: str, handle: str) -> dict[str, Any]:
    # USER_ID_FOR_SRP is the username here for a simulated answer too: pools here have no
    # alias attributes, so a real user's internal id is their username, and the guide's "internal
    # user id in UUID format" would tell the two apart (the guide says as much for pools whose
    # immutable user names are not UUIDs).
    return {
        "ChallengeName": "PASSWORD_VERIFIER",
        "ChallengeParameters": {
            "SALT": salt,
            "SECRET_BLOCK": handle,
            "SRP_B": b_hex,
            "USERNAME": username,
            "USER_ID_FOR_SRP": username,
        },
    }
