"""Ending sessions: GlobalSignOut (an access token's whole user) and RevokeToken (one refresh
token and the access tokens minted with it)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from ..credentials import refresh
from ..credentials.pools import PoolRegistry
from ..model import errors as e
from ..model.validation import StringMember, validate
from ..redis_io import lua
from ..redis_io.connect import Transport
from ..redis_io.keys import UserKeys
from ..runtime.settings import Settings
from ..sessions import pool_quota
from ..sessions.routes import Route
from ..sessions.session import Refusal, TokenOperation
from .auth_input import CLIENT_ID, CLIENT_SECRET
from .devices import ACCESS_TOKEN


class GlobalSignOut(TokenOperation):
    name = "GlobalSignOut"
    shape = (ACCESS_TOKEN,)
    script = lua.session_script("global_sign_out")
    writes = True
    needs_device_tracking = False
    # The model lists no UserNotFoundException for GlobalSignOut: a deleted user's still-valid
    # token is answered as not authorized (inferred; no capture exists).
    refusals: ClassVar[Mapping[bytes, Refusal]] = {
        b"NO_USER": (e.NotAuthorizedException, e.USER_NOT_FOUND)
    }

    def answer(self, reply: list[Any], route: Route, values: dict[str, Any]) -> bytes:
        return b"{}"


REVOKE_REFRESH = lua.hot_script("revoke_refresh")
TOKEN = StringMember("Token", required=True, pattern=r"[A-Za-z0-9-_=.]+", sensitive=True)
LINKED = StringMember("RevokeAssociatedSessions", enum=("NONE", "LINKED"))
# No capture gives these messages; they are inferred from the model's descriptions.
UNSUPPORTED_TOKEN = "Unsupported token type."  # noqa: S105 (a message, not a secret)
UNKNOWN_CLIENT = "Invalid client id."
OTHER_CLIENT = "The refresh token was issued to another client."
BAD_SECRET = "Invalid client secret."  # noqa: S105 (a message, not a secret)
REVOCATION_OFF = "Token revocation is not enabled for this app client."


class RevokeToken:
    """RevokeToken: revokes a refresh token and every access token sharing its origin_jti.

    As the token revocation guide says, a token that is not valid (unreadable, expired, already
    revoked, of another pool) is answered 200 and changes nothing. An access or ID token gets
    UnsupportedTokenTypeException; a client id no live pool has, UnauthorizedException; a refresh
    token of another client of the pool, UnauthorizedException ("you must use the same client
    ID that was used to obtain the token"); a client with EnableTokenRevocation off,
    UnsupportedOperationException.
    """

    name = "RevokeToken"
    shape = (TOKEN, CLIENT_ID, CLIENT_SECRET, LINKED)

    def __init__(self, settings: Settings, registry: PoolRegistry, pipe: Transport) -> None:
        self.settings = settings
        self.registry = registry
        self.pipe = pipe

    async def __call__(self, body: dict[str, Any]) -> bytes:
        values = validate(body, self.shape)
        token, client_id = values["Token"], values["ClientId"]
        if refresh.looks_like_jwt(token):
            raise e.UnsupportedTokenTypeException(UNSUPPORTED_TOKEN)
        # A client this worker has not loaded yet is caught up with (catch_up answers a burst
        # whole). A client deleted a moment ago may still be found on a worker that has not
        # reloaded: the revocation then goes ahead, which only narrows access, and costs no
        # version read (a warm RevokeToken stays one EVALSHA, test_a_warm_call_is_one_evalsha).
        pool = self.registry.by_client.get(client_id)
        if pool is None and await self.registry.catch_up():
            pool = self.registry.by_client.get(client_id)
        if pool is None:
            raise e.UnauthorizedException(UNKNOWN_CLIENT)
        client = pool.app_clients[client_id]
        if client.secret is not None and not hmac.compare_digest(
            (values["ClientSecret"] or "").encode(), client.secret.encode()
        ):
            # A confidential client must authenticate, as the revocation endpoint's
            # invalid_client (401) says for it.
            raise e.UnauthorizedException(BAD_SECRET)
        if not client.enable_token_revocation:
            # The developer guide's "Revoking tokens": RevokeToken needs the client's
            # EnableTokenRevocation (the model lists UnsupportedOperationException for it).
            raise e.UnsupportedOperationException(REVOCATION_OFF)
        if self.settings.pool_rate_limit:
            await pool_quota.take(self.pipe, self.settings, pool.id, self.name)
        claims = refresh.unseal(pool, token)
        if claims is None or claims.gen != pool.gen or claims.pool_id != pool.id:
            return b"{}"
        if claims.exp <= time.time():
            return b"{}"
        uk = UserKeys(pool.id, pool.gen, claims.username)
        answer = await self.pipe.evalsha(
            REVOKE_REFRESH, (uk.user, uk.revoked, uk.refresh), (claims.origin_jti, client_id)
        )
        if answer == b"OTHER_CLIENT":
            raise e.UnauthorizedException(OTHER_CLIENT)
        return b"{}"
