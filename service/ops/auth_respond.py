"""RespondToAuthChallenge's challenges (and AdminRespondToAuthChallenge's): PASSWORD_VERIFIER,
DEVICE_SRP_AUTH, DEVICE_PASSWORD_VERIFIER and NEW_PASSWORD_REQUIRED, and the pool-wide quota a
response draws from.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..credentials import srp
from ..credentials.pool import Pool
from ..model import errors as e
from ..model.clients import AppClient
from ..model.password_policy import violation
from .auth_handles import open_session
from .auth_input import (
    BAD_TIMESTAMP,
    INVALID_SESSION,
    UNSUPPORTED_CHALLENGE,
    _check_secret_hash,
    _missing,
)
from .auth_issue import Flow
from .auth_steps import CHALLENGE_BUCKET, FREE_RESPONSES, Attempt


class Responder(Flow):
    """A sign-in's challenge responses (one per worker, over the shared steps)."""

    async def respond(
        self, pool: Pool, client: AppClient, name: str, session: str | None, answers: dict[str, str]
    ) -> dict[str, Any]:
        """RespondToAuthChallenge's (and AdminRespondToAuthChallenge's) answer."""
        if name not in (
            "PASSWORD_VERIFIER",
            "DEVICE_SRP_AUTH",
            "DEVICE_PASSWORD_VERIFIER",
            "NEW_PASSWORD_REQUIRED",
        ):
            raise e.InvalidParameterException(UNSUPPORTED_CHALLENGE.format(name))
        username = answers.get("USERNAME")
        if not username:
            raise _missing("USERNAME")
        _check_secret_hash(client, answers.get("SECRET_HASH"), username)
        attempt = Attempt(pool, client, username, answers.get("DEVICE_KEY") or None)
        if name in ("PASSWORD_VERIFIER", "DEVICE_PASSWORD_VERIFIER"):
            return await self._verifier(attempt, name, session, answers)
        if name == "DEVICE_SRP_AUTH":
            return await self._device_srp(attempt, session, answers)
        return await self._new_password(attempt, session, answers)

    async def challenge_quota(self, pool: Pool, name: str, session: str | None) -> None:
        """RespondToAuthChallenge's pool-wide quota: a sign-in's first three responses draw
        from a bucket three times UserAuthentication's, later ones from UserAuthentication;
        NEW_PASSWORD_REQUIRED from UserAccountRecovery."""
        if not self.steps.settings.pool_rate_limit:
            return
        if name == "NEW_PASSWORD_REQUIRED":
            await self.steps.quota(pool, "UserAccountRecovery")
            return
        opened = open_session(pool, session) if session else None
        answered = opened[2] if opened else 0
        await self.steps.quota(
            pool, CHALLENGE_BUCKET if answered < FREE_RESPONSES else "UserAuthentication"
        )

    async def _verifier(
        self, attempt: Attempt, name: str, session: str | None, answers: dict[str, str]
    ) -> dict[str, Any]:
        for member in ("PASSWORD_CLAIM_SECRET_BLOCK", "PASSWORD_CLAIM_SIGNATURE", "TIMESTAMP"):
            if not answers.get(member):
                raise _missing(member)
        block = answers["PASSWORD_CLAIM_SECRET_BLOCK"]
        stamp = answers["TIMESTAMP"]
        if srp.parse_timestamp(stamp) is None:
            raise e.InvalidParameterException(BAD_TIMESTAMP)
        if name == "DEVICE_PASSWORD_VERIFIER" and not attempt.device_key:
            raise _missing("DEVICE_KEY")
        # The SECRET_BLOCK is the session's handle (USER_SRP_AUTH's answer carries no Session).
        state, stored = await self.steps.consume(attempt, block, name)
        if session and session != block:
            raise e.NotAuthorizedException(INVALID_SESSION)
        try:
            block_bytes = base64.b64decode(block, validate=True)
            key = bytes.fromhex(stored.get("key", ""))
        except (binascii.Error, ValueError):
            raise e.NotAuthorizedException(INVALID_SESSION) from None
        if name == "PASSWORD_VERIFIER":
            realm, user = srp.pool_name(attempt.pool.id), attempt.username
        else:
            if stored.get("device") != attempt.device_key:
                raise e.NotAuthorizedException(INVALID_SESSION)
            realm, user = stored.get("group", ""), attempt.device_key or ""
        signature = answers["PASSWORD_CLAIM_SIGNATURE"]
        if not srp.check_claim(key, realm, user, block_bytes, stamp, signature):
            raise await self.steps.failed(attempt, state)
        if name == "PASSWORD_VERIFIER":
            return await self.issuer.after_password(attempt, state)
        return await self.issuer.tokens(attempt, state, _user_fields(stored))

    async def _device_srp(
        self, attempt: Attempt, session: str | None, answers: dict[str, str]
    ) -> dict[str, Any]:
        if not attempt.device_key:
            raise _missing("DEVICE_KEY")
        if not answers.get("SRP_A"):
            raise _missing("SRP_A")
        state, stored = await self.steps.consume(attempt, session, "DEVICE_SRP_AUTH")
        if stored.get("device") != attempt.device_key:
            raise e.NotAuthorizedException(INVALID_SESSION)
        if not (state.device_confirmed and state.device_verifier and state.device_salt):
            raise e.ResourceNotFoundException(e.DEVICE_NOT_FOUND)
        try:
            verifier_hex = base64.b64decode(state.device_verifier).hex()
            salt_hex = base64.b64decode(state.device_salt).hex()
            b_hex, key = srp.server_step(verifier_hex, answers["SRP_A"])
        except (binascii.Error, ValueError):
            raise e.InvalidParameterException("SRP_A is not a valid SRP value.") from None
        fields = {"key": key.hex(), "group": state.device_group, **_carried(stored)}
        handle = await self.steps.challenge(
            attempt, state, "DEVICE_PASSWORD_VERIFIER", fields, password_ok=True
        )
        return {
            "ChallengeName": "DEVICE_PASSWORD_VERIFIER",
            "ChallengeParameters": {
                "DEVICE_KEY": attempt.device_key,
                "SALT": salt_hex,
                "SECRET_BLOCK": handle,
                "SRP_B": b_hex,
                "USERNAME": attempt.username,
            },
            "Session": handle,
        }

    async def _new_password(
        self, attempt: Attempt, session: str | None, answers: dict[str, str]
    ) -> dict[str, Any]:
        new_password = answers.get("NEW_PASSWORD")
        if not new_password:
            raise _missing("NEW_PASSWORD")
        # Checked before the session is used up: a password the policy refuses can be retried.
        problem = violation(attempt.pool.password_policy, new_password)
        if problem is not None:
            raise e.InvalidPasswordException(problem)
        state, stored = await self.steps.consume(attempt, session, "NEW_PASSWORD_REQUIRED")
        attempt.device_key = stored.get("device") or attempt.device_key
        salt, verifier = srp.password_verifier(attempt.pool.id, attempt.username, new_password)
        user_fields = {"srp_salt": salt, "srp_verifier": verifier, "status": "CONFIRMED"}
        return await self.issuer.after_new_password(attempt, state, user_fields)


_USER_FIELDS = ("srp_salt", "srp_verifier", "status")


def _carried(stored: dict[str, str]) -> dict[str, str]:
    """What a session passes on to the next one (a new password not yet written)."""
    return {name: stored[name] for name in _USER_FIELDS if name in stored}


def _user_fields(stored: dict[str, str]) -> dict[str, str]:
    return _carried(stored)
