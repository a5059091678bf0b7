"""Sign-in: InitiateAuth and RespondToAuthChallenge (and the logic of their Admin* variants).

Flows: USER_SRP_AUTH (then PASSWORD_VERIFIER), USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH /
REFRESH_TOKEN; ADMIN_USER_PASSWORD_AUTH and ADMIN_NO_SRP_AUTH for AdminInitiateAuth. After the
password: NEW_PASSWORD_REQUIRED for a FORCE_CHANGE_PASSWORD user, DEVICE_SRP_AUTH then
DEVICE_PASSWORD_VERIFIER for a confirmed device the request presents (DEVICE_KEY), and otherwise
tokens, with NewDeviceMetadata when the pool tracks devices and no device was presented.

Passwords are never stored: a user has an SRP salt and verifier (service/credentials/srp.py), and
the plain-password flows derive the verifier from the password and compare. A challenge's state
lives in Redis, in the user's slot, for the app client's AuthSessionValidity, and answers one
request only; what the client holds (Session, SECRET_BLOCK) is opaque: the user's name and the
session's id, sealed with the pool's secret.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import orjson

from ..credentials.pools import PoolRegistry
from ..model.errors import CognitoError
from ..model.validation import validate
from ..redis_io.connect import Transport
from ..redis_io.redis_errors import RedisOverloaded
from ..runtime import metrics
from ..runtime.settings import Settings
from .auth_initiate import Initiator
from .auth_input import (
    AUTH_FLOW,
    AUTH_FLOWS,
    CHALLENGE_NAME,
    CHALLENGES,
    CLIENT_ID,
    CLIENT_SECRET,
    DEVICE_KEY,
    REFRESH_TOKEN,
    SESSION,
    USER_POOL_ID,
    _string_map,
)
from .auth_issue import Issuer
from .auth_respond import Responder
from .auth_steps import Steps


class SignIn:
    """The machinery every sign-in operation shares (one per worker): the shared steps
    (auth_steps.py), what a right password issues (auth_issue.py), and the two requests' flows
    (auth_initiate.py, auth_respond.py)."""

    def __init__(self, settings: Settings, registry: PoolRegistry, pipe: Transport) -> None:
        steps = Steps(settings, registry, pipe)
        issuer = Issuer(steps)
        initiator = Initiator(steps, issuer)
        responder = Responder(steps, issuer)
        # What the operations below call.
        self.client = steps.client
        self.quota = steps.quota
        self.initiate = initiator.initiate
        self.get_tokens = initiator.refresher.get_tokens
        self.respond = responder.respond
        self.challenge_quota = responder.challenge_quota


# Label values a client cannot multiply: the model's enums, and one word for the rest.
_FLOWS = frozenset(AUTH_FLOWS) | frozenset(CHALLENGES)


async def _counted(operation: str, flow: Any, answer: Awaitable[dict[str, Any]]) -> bytes:
    """`answer`, serialised, its outcome counted in cognito_signin_total (by the `flow`, the
    request's AuthFlow or ChallengeName). The result is success, challenge, or the type of the
    error the wire gets (service/http/api.py answers the Redis failures as these two)."""
    label = flow if flow in _FLOWS else "invalid"
    try:
        done = await answer
    except CognitoError as exc:
        metrics.RECORDER.signed_in(operation, label, exc.type_name)
        raise
    except RedisOverloaded:
        metrics.RECORDER.signed_in(operation, label, "TooManyRequestsException")
        raise
    except Exception:
        metrics.RECORDER.signed_in(operation, label, "InternalErrorException")
        raise
    metrics.RECORDER.signed_in(
        operation, label, "challenge" if "ChallengeName" in done else "success"
    )
    return orjson.dumps(done)


# -- the operations --------------------------------------------------------------------------
class InitiateAuth:
    """InitiateAuth: USER_SRP_AUTH, USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH / REFRESH_TOKEN."""

    name = "InitiateAuth"
    shape = (AUTH_FLOW, CLIENT_ID)

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    async def __call__(self, body: dict[str, Any]) -> bytes:
        return await _counted(self.name, body.get("AuthFlow"), self._answer(body))

    async def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        values = validate(body, self.shape)
        params = _string_map(body, "AuthParameters")
        pool, client = await self.signin.client(values["ClientId"])
        await self.signin.quota(pool, "UserAuthentication")
        answer = await self.signin.initiate(pool, client, values["AuthFlow"], params, admin=False)
        return answer


class GetTokensFromRefreshToken:
    """GetTokensFromRefreshToken: new tokens from a refresh token (how Amplify JS v6 refreshes,
    since amplify-js PR #14427), with RefreshTokenRotation (ops/auth_refresh.py)."""

    name = "GetTokensFromRefreshToken"
    shape = (REFRESH_TOKEN, CLIENT_ID, CLIENT_SECRET, DEVICE_KEY)

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    async def __call__(self, body: dict[str, Any]) -> bytes:
        return await _counted(self.name, "REFRESH_TOKEN", self._answer(body))

    async def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        values = validate(body, self.shape)
        _string_map(body, "ClientMetadata")  # passed to Lambda triggers, which are not run here
        pool, client = await self.signin.client(values["ClientId"])
        await self.signin.quota(pool, "UserAuthentication")
        answer = await self.signin.get_tokens(
            pool, client, values["RefreshToken"], values["ClientSecret"], values["DeviceKey"]
        )
        return answer


class RespondToAuthChallenge:
    """RespondToAuthChallenge: PASSWORD_VERIFIER, NEW_PASSWORD_REQUIRED, DEVICE_SRP_AUTH,
    DEVICE_PASSWORD_VERIFIER."""

    name = "RespondToAuthChallenge"
    shape = (CLIENT_ID, CHALLENGE_NAME, SESSION)

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    async def __call__(self, body: dict[str, Any]) -> bytes:
        return await _counted(self.name, body.get("ChallengeName"), self._answer(body))

    async def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        values = validate(body, self.shape)
        answers = _string_map(body, "ChallengeResponses")
        pool, client = await self.signin.client(values["ClientId"])
        name, session = values["ChallengeName"], values["Session"]
        await self.signin.challenge_quota(
            pool, name, session or answers.get("PASSWORD_CLAIM_SECRET_BLOCK")
        )
        return await self.signin.respond(pool, client, name, session, answers)


class AdminInitiateAuth:
    """AdminInitiateAuth: ADMIN_USER_PASSWORD_AUTH, ADMIN_NO_SRP_AUTH (and USER_SRP_AUTH,
    REFRESH_TOKEN_AUTH). SigV4-signed: service/http/api.py checks the signature first."""

    name = "AdminInitiateAuth"
    shape = (USER_POOL_ID, CLIENT_ID, AUTH_FLOW)

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    async def __call__(self, body: dict[str, Any]) -> bytes:
        return await _counted(self.name, body.get("AuthFlow"), self._answer(body))

    async def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        values = validate(body, self.shape)
        params = _string_map(body, "AuthParameters")
        pool, client = await self.signin.client(values["ClientId"], values["UserPoolId"])
        await self.signin.quota(pool, "UserAuthentication")
        answer = await self.signin.initiate(pool, client, values["AuthFlow"], params, admin=True)
        return answer


class AdminRespondToAuthChallenge:
    """AdminRespondToAuthChallenge: as RespondToAuthChallenge, with the pool named (SigV4)."""

    name = "AdminRespondToAuthChallenge"
    shape = (USER_POOL_ID, CLIENT_ID, CHALLENGE_NAME, SESSION)

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    async def __call__(self, body: dict[str, Any]) -> bytes:
        return await _counted(self.name, body.get("ChallengeName"), self._answer(body))

    async def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        values = validate(body, self.shape)
        answers = _string_map(body, "ChallengeResponses")
        pool, client = await self.signin.client(values["ClientId"], values["UserPoolId"])
        name, session = values["ChallengeName"], values["Session"]
        await self.signin.challenge_quota(
            pool, name, session or answers.get("PASSWORD_CLAIM_SECRET_BLOCK")
        )
        return await self.signin.respond(pool, client, name, session, answers)
