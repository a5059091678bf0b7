"""Access tokens: the attack matrix through the wire, the Redis claims cache, and unit tests of
service.credentials.tokens.verify / issue with real RSA keys."""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk

from service import store
from service.credentials import tokens
from service.credentials.pool import Pool
from service.credentials.pools import PoolRegistry
from service.model.errors import NotAuthorizedException
from service.redis_io import keys
from service.runtime.settings import Settings
from tests.conftest import Admin, LiveServer, boto_client, flush
from tests.helpers_tokens import (
    assert_boto_error,
    assert_cognito_error,
    b64url,
    b64url_decode,
    claims_keys,
    forge,
    get_device,
    new_jose_keys,
    new_rsa_key,
    private_key_of_pool,
    public_pem_of_pool,
    sign_rs256,
    split_token,
    user_keys_in_redis,
    with_payload,
)

POOL = "us-east-1_LocalPool"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
INVALID = "Invalid Access Token"
EXPIRED = "Access Token has expired"
SCOPES = "Access Token does not have required scopes"
REVOKED = "Access Token has been revoked"

# The per-user token bucket lives in the user's hash.
BUCKET_FIELDS = ("bucket_tokens", "bucket_ts_us")


def bucket(admin: Admin, user: store.User) -> list[Any]:
    return list(admin.redis.hmget(user.keys.user, *BUCKET_FIELDS))


@dataclass
class World:
    """Two users of the default pool, each with a device; alice holds a valid token."""

    admin: Admin
    alice: store.User
    bob: store.User
    alice_device: str
    bob_device: str
    token: str  # alice's
    kid: str
    client_id: str
    key: rsa.RSAPrivateKey

    def claims(self, **changes: Any) -> dict[str, Any]:
        """A copy of alice's token's payload, changed."""
        payload = split_token(self.token)[1]
        payload.update(changes)
        return payload

    def header(self, **changes: Any) -> dict[str, Any]:
        header = {"kid": self.kid, "alg": "RS256"}
        header.update(changes)
        return header


def _make_world(admin: Admin) -> World:
    alice = admin.create_user("alice")
    bob = admin.create_user("bob")
    record = admin.redis.hgetall(keys.pool(POOL))
    return World(
        admin=admin,
        alice=alice,
        bob=bob,
        alice_device=admin.add_device(alice),
        bob_device=admin.add_device(bob),
        token=admin.token("alice"),
        kid=record[b"kid"].decode(),
        client_id=sorted(json.loads(record[b"clients"]))[0],
        key=private_key_of_pool(admin.redis, POOL),
    )


@pytest.fixture
def world(admin: Admin) -> World:
    return _make_world(admin)


_REUSABLE: dict[str, tuple[bytes | None, World]] = {}


@pytest.fixture
def matrix_world(live_session: LiveServer, settings: Settings) -> Iterator[World]:
    """A World that is rebuilt only when a test changed what it depends on.

    The attack matrix never changes users or pools except through the cases that add a pool
    (which changes the pools version and so forces a rebuild); buckets and cached claims, the
    only other state a case leaves, are deleted before each case.
    """
    admin = Admin(settings, live_session)
    try:
        version = admin.redis.get(keys.POOLS_VERSION)
        cached = _REUSABLE.get("world")
        world = cached[1] if cached is not None and cached[0] == version else None
        if world is not None and not all(
            admin.redis.exists(u.keys.user)
            and not admin.redis.hexists(u.keys.user, "signed_out_ms")
            for u in (world.alice, world.bob)
        ):
            world = None
        if world is None:
            flush(settings)
            admin.wait_pools()
            world = _make_world(admin)
            _REUSABLE["world"] = (admin.redis.get(keys.POOLS_VERSION), world)
        else:
            for user in (world.alice, world.bob):
                admin.redis.hdel(user.keys.user, *BUCKET_FIELDS)
                stale = claims_keys(admin.redis, POOL, user.username)
                if stale:
                    admin.redis.delete(*stale)
        world.admin = admin
        yield world
    finally:
        admin.redis.close()


def _hs256(w: World, secret: bytes) -> str:
    header = b64url(json.dumps(w.header(alg="HS256")).encode())
    payload = b64url(json.dumps(w.claims(sub=w.bob.sub, username="bob")).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


def _jwk_n(w: World) -> str:
    pem = public_pem_of_pool(w.admin.redis, POOL)
    return str(jwk.construct(pem.decode(), "RS256").to_dict()["n"])


def _other_pool_client(w: World) -> str:
    record = w.admin.run(lambda r: store.create_pool(r, w.admin.settings, "us-east-1_Other"))
    w.admin.wait_pools()
    return str(json.loads(record["clients"])[0])


def _signed_for_other_pool_issuer(w: World) -> str:
    _other_pool_client(w)
    iss = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"
    # This pool's key and kid, but the other pool's issuer: keys are looked up by issuer.
    return sign_rs256(w.header(), w.claims(iss=iss), w.key)


def _id_token(w: World) -> str:
    payload = w.claims(token_use="id", aud=w.client_id, email="alice@example.com")
    for member in ("client_id", "scope", "jti", "origin_jti"):
        payload.pop(member, None)
    return sign_rs256(w.header(), payload, w.key)


# Each case: (name, how to build the token, the message). All are NotAuthorizedException.
ATTACKS: list[tuple[str, Callable[[World], str], str]] = [
    ("alg none", lambda w: forge(w.header(alg="none"), w.claims(sub=w.bob.sub)), INVALID),
    ("alg None, no kid", lambda w: forge({"alg": "None"}, w.claims(sub=w.bob.sub)), INVALID),
    (
        "alg none, real signature kept",
        lambda w: ".".join(
            [b64url(json.dumps(w.header(alg="none")).encode()), *w.token.split(".")[1:]]
        ),
        INVALID,
    ),
    (
        "HS256 keyed with the PEM public key",
        lambda w: _hs256(w, public_pem_of_pool(w.admin.redis, POOL)),
        INVALID,
    ),
    ("HS256 keyed with the JWK n", lambda w: _hs256(w, _jwk_n(w).encode()), INVALID),
    ("HS256 keyed with the raw modulus", lambda w: _hs256(w, b64url_decode(_jwk_n(w))), INVALID),
    ("RS512 header", lambda w: sign_rs256(w.header(alg="RS512"), w.claims(), w.key), INVALID),
    (
        "tampered payload: sub swapped",
        lambda w: with_payload(w.token, sub=w.bob.sub, username="bob"),
        INVALID,
    ),
    (
        "tampered payload: expiry extended",
        lambda w: with_payload(w.admin.token("alice", ttl_s=-60), exp=int(time.time()) + 3600),
        INVALID,
    ),
    (
        "signature of another token",
        lambda w: ".".join([*w.token.split(".")[:2], w.admin.token("bob").split(".")[2]]),
        INVALID,
    ),
    (
        "unknown kid",
        lambda w: sign_rs256(w.header(kid="not-a-kid"), w.claims(), new_rsa_key()),
        INVALID,
    ),
    (
        "known kid, attacker's key",
        lambda w: sign_rs256(w.header(), w.claims(sub=w.bob.sub), new_rsa_key()),
        INVALID,
    ),
    ("attacker's key embedded in the header", lambda w: _embedded_jwk(w), INVALID),
    ("an ID token", _id_token, INVALID),
    (
        "wrong issuer",
        lambda w: sign_rs256(w.header(), w.claims(iss="https://evil.example.com/" + POOL), w.key),
        INVALID,
    ),
    ("issuer of another pool", _signed_for_other_pool_issuer, INVALID),
    ("client id unknown to the pool", lambda w: w.admin.token("alice", client_id="nope"), INVALID),
    (
        "client id of another pool",
        lambda w: w.admin.token("alice", client_id=_other_pool_client(w)),
        INVALID,
    ),
    ("no exp", lambda w: sign_rs256(w.header(), _without(w.claims(), "exp"), w.key), INVALID),
    (
        "exp as a string",
        lambda w: sign_rs256(w.header(), w.claims(exp=str(int(time.time()) + 60)), w.key),
        INVALID,
    ),
    ("no sub", lambda w: sign_rs256(w.header(), _without(w.claims(), "sub"), w.key), INVALID),
    ("two parts", lambda w: ".".join(w.token.split(".")[:2]), INVALID),
    ("four parts", lambda w: w.token + ".AAAA", INVALID),
    ("header not JSON", lambda w: "bm90anNvbg." + ".".join(w.token.split(".")[1:]), INVALID),
    ("payload a list", lambda w: forge(w.header(), [1, 2], b"x"), INVALID),  # type: ignore[arg-type]
    ("not base64", lambda w: "a.b.c", INVALID),
    ("expired", lambda w: w.admin.token("alice", ttl_s=-1), EXPIRED),
    ("missing scope", lambda w: w.admin.token("alice", scopes=["openid", "profile"]), SCOPES),
    (
        "scope that only starts like the admin scope",
        lambda w: w.admin.token("alice", scopes=["aws.cognito.signin.user.admin.x"]),
        SCOPES,
    ),
    (
        "no scope at all",
        lambda w: sign_rs256(w.header(), _without(w.claims(), "scope"), w.key),
        SCOPES,
    ),
]


def _without(payload: dict[str, Any], member: str) -> dict[str, Any]:
    payload.pop(member)
    return payload


def _embedded_jwk(w: World) -> str:
    attacker = new_rsa_key()
    public = jwk.construct(
        attacker.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "RS256",
    ).to_dict()
    public = {k: v.decode() if isinstance(v, bytes) else v for k, v in public.items()}
    return sign_rs256(w.header(jwk=public), w.claims(sub=w.bob.sub), attacker)


@pytest.mark.parametrize(("name", "build", "message"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_matrix(
    matrix_world: World, name: str, build: Callable[[World], str], message: str
) -> None:
    world = matrix_world
    cognito = boto_client(world.admin.live.url)  # type: ignore[union-attr]
    token = build(world)
    for device in (world.bob_device, world.alice_device):
        with pytest.raises(ClientError) as info:
            cognito.get_device(AccessToken=token, DeviceKey=device)
        assert_boto_error(info, "NotAuthorizedException", message, 400)
    # Nothing was charged or cached for anyone.
    for user in (world.alice, world.bob):
        assert bucket(world.admin, user) == [None, None], name
        assert claims_keys(world.admin.redis, POOL, user.username) == [], name
    # And alice's real token still works, from a full bucket.
    assert cognito.get_device(AccessToken=world.token, DeviceKey=world.alice_device)
    tokens_left = float(bucket(world.admin, world.alice)[0] or -1)
    assert tokens_left == pytest.approx(world.admin.settings.user_burst - 1, abs=0.01)


def test_revoked_by_sign_out(cognito: Any, world: World) -> None:
    world.admin.run(lambda r: store.sign_out_user(r, POOL, "alice"))
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=world.token, DeviceKey=world.alice_device)
    assert_boto_error(info, "NotAuthorizedException", REVOKED, 400)
    # A revoked (but genuine) token is never charged to the bucket.
    assert bucket(world.admin, world.alice) == [None, None]


def test_a_100kb_token_gets_a_json_error(live: LiveServer, world: World) -> None:
    huge = with_payload(world.token, pad="A" * 100_000)
    assert len(huge) > 100_000
    answer = get_device(live.url, huge, world.alice_device)
    # Beyond the 64 KiB body limit: the body is refused whole, as a Cognito-shaped JSON error.
    assert_cognito_error(
        answer,
        "RequestEntityTooLargeException",
        "Request body is larger than the limit of 65536 bytes.",
        413,
    )


def test_a_60kb_token_within_the_body_limit(cognito: Any, world: World) -> None:
    big = with_payload(world.token, pad="A" * 45_000)
    assert 60_000 < len(big) < 65_000
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=big, DeviceKey=world.alice_device)
    assert_boto_error(info, "NotAuthorizedException", INVALID, 400)


def test_tokens_with_other_scopes_besides_admin_are_accepted(cognito: Any, world: World) -> None:
    token = world.admin.token("alice", scopes=["openid", "aws.cognito.signin.user.admin", "email"])
    got = cognito.get_device(AccessToken=token, DeviceKey=world.alice_device)
    assert got["Device"]["DeviceKey"] == world.alice_device


def test_group_and_device_key_claims_are_accepted(cognito: Any, world: World) -> None:
    token = world.admin.token("alice", groups=["admins"], device_key=world.alice_device)
    assert list(split_token(token)[1])[:3] == ["sub", "device_key", "cognito:groups"]
    assert cognito.get_device(AccessToken=token, DeviceKey=world.alice_device)


# -- the claims cache ----------------------------------------------------------------------------
def test_a_verified_token_is_cached_under_the_digest_of_the_whole_token(
    live: LiveServer, world: World
) -> None:
    assert get_device(live.url, world.token, world.alice_device).status == 200
    key = world.alice.keys.claims(tokens.digest(world.token))
    assert claims_keys(world.admin.redis, POOL, world.alice.username) == [key]
    payload = split_token(world.token)[1]
    # Only what the scripts read, in one compact string: "<exp>:<iat>:<len(ojti)>:<ojti><sub>"
    # (the whole claims JSON, or a hash of them, would cost every active user far more).
    ojti = payload["origin_jti"]
    assert world.admin.redis.get(key).decode() == (
        f"{payload['exp']}:{payload['iat']}:{len(ojti)}:{ojti}{payload['sub']}"
    )
    # Never longer than the token's remaining life (3600 s).
    assert 0 < world.admin.redis.pttl(key) <= 3600 * 1000


def test_cache_life_is_bounded_by_the_tokens_own_expiry(live: LiveServer, world: World) -> None:
    # Under the default cap (an hour), a token with a minute to live is cached for a minute at
    # most, and one with two seconds for two: its entry leaves with it.
    assert world.admin.settings.claims_cache_max_ttl_s == 3600
    minute = world.admin.token("alice", ttl_s=60)
    assert get_device(live.url, minute, world.alice_device).status == 200
    key = world.alice.keys.claims(tokens.digest(minute))
    assert 0 < world.admin.redis.pttl(key) <= 60_000

    short = world.admin.token("alice", ttl_s=2)
    exp = split_token(short)[1]["exp"]
    assert get_device(live.url, short, world.alice_device).status == 200
    key = world.alice.keys.claims(tokens.digest(short))
    assert 0 < world.admin.redis.pttl(key) <= 2000
    while time.time() < exp + 0.05:
        time.sleep(0.05)
    assert not world.admin.redis.exists(key)
    assert_cognito_error(
        get_device(live.url, short, world.alice_device), "NotAuthorizedException", EXPIRED, 400
    )


def test_cache_life_is_bounded_by_the_setting(live_factory: Any) -> None:
    server, helper = live_factory(claims_cache_max_ttl_s=5)
    user, device, token = helper.user_with_device("carl")
    assert get_device(server.url, token, device).status == 200
    [key] = claims_keys(helper.redis, POOL, user.username)
    assert 0 < helper.redis.pttl(key) <= 5000


def test_a_cached_tokens_payload_with_another_signature_is_not_a_hit(
    live: LiveServer, world: World
) -> None:
    assert get_device(live.url, world.token, world.alice_device).status == 200
    head, body, signature = world.token.split(".")
    flipped = b64url(bytes(reversed(b64url_decode(signature))))
    answer = get_device(live.url, f"{head}.{body}.{flipped}", world.alice_device)
    assert_cognito_error(answer, "NotAuthorizedException", INVALID, 400)


def test_a_cache_hit_skips_signature_verification(live: LiveServer, world: World) -> None:
    admin = world.admin
    warm = world.token
    cold = admin.token("alice")  # signed by the same key, never seen by the server
    assert get_device(live.url, warm, world.alice_device).status == 200

    # Rotate the pool's keys away: the old key no longer verifies anything.
    admin.redis.hset(keys.pool(POOL), "jwks", '{"keys":[]}')
    admin.redis.set(keys.POOLS_VERSION, uuid.uuid4().hex)
    admin.wait_pools()

    assert get_device(live.url, warm, world.alice_device).status == 200  # cached: no verify
    assert_cognito_error(
        get_device(live.url, cold, world.alice_device), "NotAuthorizedException", INVALID, 400
    )


def test_expiry_is_checked_on_every_cached_request(live: LiveServer, world: World) -> None:
    token = world.admin.token("alice", ttl_s=3)
    exp = split_token(token)[1]["exp"]
    assert get_device(live.url, token, world.alice_device).status == 200
    while time.time() < exp + 0.05:
        time.sleep(0.05)
    assert_cognito_error(
        get_device(live.url, token, world.alice_device), "NotAuthorizedException", EXPIRED, 400
    )


def test_a_stale_cache_entry_past_its_expiry_is_still_rejected(
    live: LiveServer, world: World
) -> None:
    # Even a cache entry that outlived its token (no TTL) answers "expired", never OK.
    assert get_device(live.url, world.token, world.alice_device).status == 200
    key = world.alice.keys.claims(tokens.digest(world.token))
    _exp, rest = world.admin.redis.get(key).split(b":", 1)
    world.admin.redis.set(key, str(int(time.time()) - 10).encode() + b":" + rest)  # no TTL
    assert_cognito_error(
        get_device(live.url, world.token, world.alice_device),
        "NotAuthorizedException",
        EXPIRED,
        400,
    )


def test_sign_out_reaches_a_warm_token(live: LiveServer, world: World) -> None:
    assert get_device(live.url, world.token, world.alice_device).status == 200
    assert get_device(live.url, world.token, world.alice_device).status == 200
    key = world.alice.keys.claims(tokens.digest(world.token))
    assert world.admin.redis.exists(key)

    world.admin.run(lambda r: store.sign_out_user(r, POOL, "alice"))

    assert world.admin.redis.exists(key)  # still cached: the next request is a hit
    assert_cognito_error(
        get_device(live.url, world.token, world.alice_device),
        "NotAuthorizedException",
        REVOKED,
        400,
    )


def test_revoke_origin_jti_reaches_a_warm_token(live: LiveServer, world: World) -> None:
    assert get_device(live.url, world.token, world.alice_device).status == 200
    origin = split_token(world.token)[1]["origin_jti"]
    world.admin.run(lambda r: store.revoke_origin_jti(r, POOL, "alice", world.alice.sub, origin))
    assert_cognito_error(
        get_device(live.url, world.token, world.alice_device),
        "NotAuthorizedException",
        REVOKED,
        400,
    )


def test_a_forged_token_naming_a_cached_user_does_not_charge_them(
    live: LiveServer, world: World
) -> None:
    # bob is warm (his claims are cached, his bucket exists); forgeries in his name change nothing.
    bob_token = world.admin.token("bob")
    assert get_device(live.url, bob_token, world.bob_device).status == 200
    before_bucket = bucket(world.admin, world.bob)
    before_keys = user_keys_in_redis(world.admin.redis, POOL, world.bob.username)
    forged = [
        with_payload(world.token, sub=world.bob.sub, username="bob"),
        forge({"alg": "none"}, split_token(bob_token)[1]),
        sign_rs256(world.header(), split_token(bob_token)[1], new_rsa_key()),
    ]
    for token in forged * 5:
        assert_cognito_error(
            get_device(live.url, token, world.bob_device), "NotAuthorizedException", INVALID, 400
        )
    assert bucket(world.admin, world.bob) == before_bucket
    assert user_keys_in_redis(world.admin.redis, POOL, world.bob.username) == before_keys


# -- unit tests of service.credentials.tokens with real keys ------------------------------------
@dataclass
class Signer:
    pool: Pool
    registry: PoolRegistry
    kid: str
    private: Any  # jose Key

    def issue(self, **kw: Any) -> str:
        args: dict[str, Any] = {"sub": "sub-1", "username": "alice", "client_id": "client-1"}
        args.update(kw)
        return tokens.issue(pool=self.pool, signing_kid=self.kid, signing_key=self.private, **args)


@pytest.fixture(scope="module")
def signer() -> Signer:
    public, private = new_jose_keys()
    pool = Pool(
        id="eu-west-1_Unit",
        issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Unit",
        region="eu-west-1",
        clients=frozenset({"client-1"}),
        keys={"kid-1": public},
    )
    registry = PoolRegistry()
    registry.replace([pool])
    return Signer(pool, registry, "kid-1", private)


def test_issue_claim_order_and_header(signer: Signer) -> None:
    token = signer.issue(
        device_key="eu-west-1_abc",
        groups=["g1", "g2"],
        now=1_700_000_000,
        ttl_s=900,
        origin_jti="origin-1",
    )
    header_part, payload_part, _ = token.split(".")
    assert b64url_decode(header_part) == b'{"kid":"kid-1","alg":"RS256"}'
    payload = orjson.loads(b64url_decode(payload_part))
    assert list(payload) == [
        "sub",
        "device_key",
        "cognito:groups",
        "iss",
        "client_id",
        "origin_jti",
        "event_id",
        "token_use",
        "scope",
        "auth_time",
        "exp",
        "iat",
        "jti",
        "username",
    ]
    assert payload["sub"] == "sub-1"
    assert payload["device_key"] == "eu-west-1_abc"
    assert payload["cognito:groups"] == ["g1", "g2"]
    assert payload["iss"] == signer.pool.issuer
    assert payload["client_id"] == "client-1"
    assert payload["origin_jti"] == "origin-1"
    assert payload["token_use"] == "access"
    assert payload["scope"] == "aws.cognito.signin.user.admin"
    assert payload["auth_time"] == payload["iat"] == 1_700_000_000
    assert payload["exp"] == 1_700_000_900
    assert payload["username"] == "alice"
    uuid.UUID(payload["event_id"])
    uuid.UUID(payload["jti"])
    assert "aud" not in payload


def test_issue_without_optional_claims(signer: Signer) -> None:
    payload = split_token(signer.issue())[1]
    assert list(payload) == [
        "sub",
        "iss",
        "client_id",
        "origin_jti",
        "event_id",
        "token_use",
        "scope",
        "auth_time",
        "exp",
        "iat",
        "jti",
        "username",
    ]
    assert payload["exp"] - payload["iat"] == 3600
    second = split_token(signer.issue())[1]
    assert second["jti"] != payload["jti"]
    assert second["origin_jti"] != payload["origin_jti"]


def test_issue_scopes_are_space_separated(signer: Signer) -> None:
    payload = split_token(signer.issue(scopes=["openid", "aws.cognito.signin.user.admin"]))[1]
    assert payload["scope"] == "openid aws.cognito.signin.user.admin"


def test_verify_returns_the_claims(signer: Signer) -> None:
    token = signer.issue(now=int(time.time()), origin_jti="o-1")
    claims = tokens.verify(token, signer.registry)
    payload = split_token(token)[1]
    assert claims.pool is signer.pool
    assert (claims.sub, claims.username, claims.origin_jti) == ("sub-1", "alice", "o-1")
    assert (claims.exp, claims.iat) == (payload["exp"], payload["iat"])
    assert claims.raw == b64url_decode(token.split(".")[1])


def test_verify_expiry_boundary(signer: Signer) -> None:
    token = signer.issue(now=1_000_000, ttl_s=60)
    assert tokens.verify(token, signer.registry, now=1_000_059.999).exp == 1_000_060
    for now in (1_000_060, 1_000_061, 2_000_000):
        with pytest.raises(NotAuthorizedException) as info:
            tokens.verify(token, signer.registry, now=now)
        assert info.value.message == EXPIRED


def _signed(s: Signer, payload: dict[str, Any]) -> str:
    """A token with any payload, validly signed with the pool's own key."""
    head = b64url(json.dumps({"kid": s.kid, "alg": "RS256"}).encode())
    signing_input = f"{head}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(s.private.sign(signing_input.encode()))}"


def _unit_attacks(s: Signer) -> list[tuple[str, str]]:
    good = s.issue()
    header, payload = split_token(good)
    attacker = new_rsa_key()
    return [
        # Well signed, badly typed claims: refused, never a crash (a list is unhashable).
        (_signed(s, {**payload, "client_id": ["client-1"]}), INVALID),
        (_signed(s, {**payload, "client_id": {"client-1": 1}}), INVALID),
        (_signed(s, {**payload, "iat": True}), INVALID),
        (_signed(s, {**payload, "exp": "9999999999"}), INVALID),
        (forge({"kid": "kid-1", "alg": "none"}, payload), INVALID),
        (with_payload(good, sub="sub-2"), INVALID),
        (sign_rs256({"kid": "kid-2", "alg": "RS256"}, payload, attacker), INVALID),
        (sign_rs256(header, payload, attacker), INVALID),
        (s.issue(client_id="client-2"), INVALID),
        (s.issue(ttl_s=-5), EXPIRED),
        (s.issue(scopes=[]), SCOPES),
        (s.issue(scopes=["email"]), SCOPES),
        (good + "x", INVALID),
        ("", INVALID),
        ("..", INVALID),
        ("e30.e30.", INVALID),  # {} . {} . nothing
    ]


def test_verify_rejects(signer: Signer) -> None:
    for token, message in _unit_attacks(signer):
        with pytest.raises(NotAuthorizedException) as info:
            tokens.verify(token, signer.registry)
        assert info.value.message == message, token


def test_verify_hs256_with_the_public_key_as_secret(signer: Signer) -> None:
    public_pem = signer.pool.keys["kid-1"].to_pem()
    good = signer.issue()
    payload = split_token(good)[1]
    head = b64url(b'{"kid":"kid-1","alg":"HS256"}')
    body = b64url(json.dumps(payload).encode())
    mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(NotAuthorizedException) as info:
        tokens.verify(f"{head}.{body}.{b64url(mac)}", signer.registry)
    assert info.value.message == INVALID


def test_verify_never_parses_keys(signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    token = signer.issue()

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a key was parsed during verification")

    monkeypatch.setattr(jwk, "construct", refuse)
    assert tokens.verify(token, signer.registry).sub == "sub-1"


def test_digest_covers_the_whole_token(signer: Signer) -> None:
    token = signer.issue()
    head, body, sig = token.split(".")
    assert tokens.digest(token) == tokens.digest(token)
    assert tokens.digest(token) != tokens.digest(f"{head}.{body}.{sig}A")
    assert tokens.digest(token) != tokens.digest(f"{head}.{body}A.{sig}")
    # 128 bits, base64url: 22 characters, none of them ":" (it ends a key).
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", tokens.digest(token))


def test_jose_is_a_safe_version_with_the_cryptography_backend() -> None:
    version = tuple(int(p) for p in importlib.metadata.version("python-jose").split(".")[:2])
    assert version >= (3, 4)  # CVE-2024-33663 / CVE-2024-33664
    from jose.backends import RSAKey
    from jose.backends.cryptography_backend import CryptographyRSAKey

    assert RSAKey is CryptographyRSAKey
