"""Ending sessions exactly (service/ops/sign_out.py, _session.lua, auth_ok.lua): every revoking
call refuses each token issued before it and none issued after it, however close together,
and RevokeToken needs the client's EnableTokenRevocation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jose import jwt

from tests.conftest import Admin, boto_client, client_error
from tests.test_refresh import make_pool, sign_in

ROUNDS = 6


def _refresh_auth(cognito: Any, client_id: str, token: str) -> dict[str, Any]:
    answer = cognito.initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH", ClientId=client_id, AuthParameters={"REFRESH_TOKEN": token}
    )
    return dict(answer["AuthenticationResult"])


def _works(cognito: Any, client_id: str, tokens: dict[str, Any]) -> None:
    # Twice: the first call verifies and caches the claims, the second reads the cache.
    for _ in range(2):
        cognito.list_devices(AccessToken=tokens["AccessToken"])
    _refresh_auth(cognito, client_id, tokens["RefreshToken"])


def _refused(cognito: Any, client_id: str, tokens: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as err:
        cognito.list_devices(AccessToken=tokens["AccessToken"])
    assert client_error(err) == ("NotAuthorizedException", "Access Token has been revoked", 400)
    with pytest.raises(ClientError) as err:
        _refresh_auth(cognito, client_id, tokens["RefreshToken"])
    assert client_error(err) == ("NotAuthorizedException", "Refresh Token has been revoked", 400)


def _user_key(admin: Admin, pool_id: str) -> bytes:
    key: bytes = next(admin.redis.scan_iter(match=f"cgd:user:{{{pool_id}:*:5:alice}}"))
    return key


def _revoking_calls(cognito: Any, pool_id: str) -> dict[str, Callable[[dict[str, Any]], None]]:
    def disable(tokens: dict[str, Any]) -> None:
        cognito.admin_disable_user(UserPoolId=pool_id, Username="alice")
        cognito.admin_enable_user(UserPoolId=pool_id, Username="alice")

    return {
        "GlobalSignOut": lambda tokens: cognito.global_sign_out(AccessToken=tokens["AccessToken"]),
        "AdminUserGlobalSignOut": lambda tokens: cognito.admin_user_global_sign_out(
            UserPoolId=pool_id, Username="alice"
        ),
        "AdminDisableUser": disable,
    }


@pytest.mark.parametrize("call", ["GlobalSignOut", "AdminUserGlobalSignOut", "AdminDisableUser"])
def test_a_sign_out_revokes_exactly_what_was_issued_before_it(live_factory: Any, call: str) -> None:
    # Cognito's 10 calls a second per user would throttle the rounds' bursts.
    server, _ = live_factory(user_rate_per_s=1000.0, user_burst=1000)
    cognito = boto_client(server.url)
    pool_id, client_id = make_pool(cognito)
    revoke = _revoking_calls(cognito, pool_id)[call]
    for _ in range(ROUNDS):
        before = sign_in(cognito, client_id)
        cognito.list_devices(AccessToken=before["AccessToken"])  # its claims cached
        revoke(before)
        # A sign-in right after the answer: milliseconds later, usually the same second.
        after = sign_in(cognito, client_id)
        _works(cognito, client_id, after)
        _refused(cognito, client_id, before)
        # Tokens refreshed after the sign-out, from a refresh token issued after it, work too.
        renewed = _refresh_auth(cognito, client_id, after["RefreshToken"])
        _works(cognito, client_id, renewed | {"RefreshToken": after["RefreshToken"]})


def test_tokens_are_issued_after_the_last_sign_out(cognito: Any, admin: Admin) -> None:
    """A sign-out stamped in the same millisecond as a sign-in's script (or on a clock ahead of
    it): the tokens that sign-in issues must still come after it (auth_ok.lua)."""
    pool_id, client_id = make_pool(cognito)
    user = _user_key(admin, pool_id)
    # Far enough ahead that the refresh below still comes before it on a busy machine.
    ahead_ms = int(admin.redis.time()[0]) * 1000 + 5000
    admin.redis.hset(user, "signed_out_ms", ahead_ms)
    tokens = sign_in(cognito, client_id)
    _works(cognito, client_id, tokens)
    assert jwt.get_unverified_claims(tokens["AccessToken"])["iat"] >= ahead_ms // 1000
    # So are the tokens a refresh issues (auth_refresh.lua), still before the sign-out's stamp.
    renewed = _refresh_auth(cognito, client_id, tokens["RefreshToken"])
    assert int(admin.redis.time()[0]) * 1000 < ahead_ms
    _works(cognito, client_id, renewed | {"RefreshToken": tokens["RefreshToken"]})


def test_a_sign_out_stamped_in_the_millisecond_a_token_was_issued_revokes_it(
    cognito: Any, admin: Admin
) -> None:
    """The comparison is to the millisecond, and inclusive: a sign-out one ms before a token
    leaves it alone; one in the same ms (it may have come just after) revokes it."""
    pool_id, client_id = make_pool(cognito)
    tokens = sign_in(cognito, client_id)
    jti = jwt.get_unverified_claims(tokens["AccessToken"])["jti"]
    issued_ms = int(jti[:8] + jti[9:13], 16)  # a UUIDv7's stamp: when the token was issued
    user = _user_key(admin, pool_id)
    admin.redis.hset(user, "signed_out_ms", issued_ms - 1)
    _works(cognito, client_id, tokens)
    admin.redis.hset(user, "signed_out_ms", issued_ms)
    _refused(cognito, client_id, tokens)


def test_tokens_say_when_they_were_issued_to_the_ms(cognito: Any) -> None:
    _, client_id = make_pool(cognito)
    claims = jwt.get_unverified_claims(sign_in(cognito, client_id)["AccessToken"])
    jti = claims["jti"]
    assert jti[14] == "7"  # a UUIDv7 (RFC 9562)
    assert int(jti[:8] + jti[9:13], 16) // 1000 == claims["iat"]


def test_revoke_token_needs_token_revocation(cognito: Any) -> None:
    _, client_id = make_pool(cognito, EnableTokenRevocation=False)
    tokens = sign_in(cognito, client_id)
    # AWS re:Post "cognito-revoke-refresh-tokens": such clients' tokens carry no origin_jti.
    assert "origin_jti" not in jwt.get_unverified_claims(tokens["AccessToken"])
    assert "origin_jti" not in jwt.get_unverified_claims(tokens["IdToken"])
    with pytest.raises(ClientError) as err:
        cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=client_id)
    assert client_error(err) == (
        "UnsupportedOperationException",
        "Token revocation is not enabled for this app client.",
        400,
    )
    # Nothing was revoked; a sign-out still ends the session.
    _works(cognito, client_id, tokens)
    cognito.global_sign_out(AccessToken=tokens["AccessToken"])
    _refused(cognito, client_id, tokens)
