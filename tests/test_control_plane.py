"""The control plane is as safe as the data plane: no admin input stops the service, corrupts a
pool or leaves half a write (issue 9). Real Redis, the real server, the real CLI."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import cli, store
from service.credentials import tokens
from service.credentials.pools import PoolRegistry
from service.http.app import REGISTRY
from service.redis_io import keys
from service.runtime.settings import ENV_VARS, Settings
from tests.conftest import Admin, LiveServer, run
from tests.helpers_tokens import (
    assert_cognito_error,
    get_device,
    new_rsa_key,
    public_jwk,
    sign_rs256,
    split_token,
    user_keys_in_redis,
)

POOL = "us-east-1_LocalPool"
INVALID = "Invalid Access Token"
REVOKED = "Access Token has been revoked"
RESET = "Password reset required for the user"

CliRun = Callable[..., tuple[int, str, str]]


@pytest.fixture
def main(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> CliRun:
    """`python -m service ARGS` in this process: (exit code, stdout, stderr)."""
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("DATA_DIR", settings.data_dir)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


class JwksServer:
    """A loopback HTTP server answering GET with a fixed body (a JWKS, good or bad)."""

    def __init__(self, body: bytes) -> None:
        body_ = body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body_)))
                self.end_headers()
                self.wfile.write(body_)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server() -> Iterator[Callable[[bytes], JwksServer]]:
    made: list[JwksServer] = []

    def make(body: bytes) -> JwksServer:
        made.append(JwksServer(body))
        return made[-1]

    yield make
    for server in made:
        server.close()


def _one_line_error(result: tuple[int, str, str], starts: str) -> None:
    code, out, err = result
    assert code != 0, result
    assert out == ""
    assert err.startswith(f"error: {starts}"), err
    assert err.count("\n") == 1, err


# -- 1, 2: JWKS is validated whole, and only public members ever leave ----------------------------
BAD_JWKS = [
    ({"keys": 5}, 'expected a JSON object {"keys": [...]}'),
    ([], 'expected a JSON object {"keys": [...]}'),
    ({"keys": []}, "expected 1 to 100 keys"),
    ({"keys": [5]}, "every key must be a JSON object"),
    ({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}, "every key needs a string 'kid'"),
    ({"keys": [{"kid": "a", "kty": "EC", "x": "AA", "y": "AA"}]}, "key 'a': only RSA keys"),
    ({"keys": [{"kid": "a", "kty": "RSA", "e": "AQAB"}]}, "key 'a': 'n' must be"),
    (
        {"keys": [{"kid": "a", "kty": "RSA", "n": "!!", "e": "AQAB"}]},
        "key 'a': 'n' is not base64url",
    ),
    ({"keys": [{"kid": "a", "kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "HS256"}]}, "key 'a'"),
]


@pytest.mark.parametrize(("doc", "message"), BAD_JWKS)
def test_a_malformed_jwks_file_is_refused(
    live: LiveServer, main: CliRun, tmp_path: Path, doc: Any, message: str
) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(doc))
    _one_line_error(main("pool", "create", "us-east-1_Bad", "--jwks-file", str(path)), message)
    assert main("pool", "show", "us-east-1_Bad")[0] == 1  # nothing was written


def test_a_private_jwk_is_refused(live: LiveServer, main: CliRun, tmp_path: Path) -> None:
    key = new_rsa_key()
    private = public_jwk(key, "k1") | {"d": "AQAB", "p": "AQAB", "q": "AQAB"}
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps({"keys": [private]}))
    _one_line_error(
        main("pool", "create", "us-east-1_Priv", "--jwks-file", str(path)),
        "key 'k1' holds private key material (d, p, q)",
    )


def test_a_jwks_url_serving_a_bad_document_is_refused(
    live: LiveServer, main: CliRun, jwks_server: Callable[[bytes], JwksServer]
) -> None:
    bad = jwks_server(b'{"keys": 5}')
    _one_line_error(
        main("pool", "create", "us-east-1_Url", "--jwks-url", bad.url),
        'expected a JSON object {"keys": [...]}',
    )
    good = jwks_server(orjson.dumps({"keys": [public_jwk(new_rsa_key(), "k")]}))
    code, out, _ = main("pool", "create", "us-east-1_Url", "--jwks-url", good.url)
    assert code == 0
    assert json.loads(out)["JwksUrl"] == good.url


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "http://example.com/jwks.json", "ftp://127.0.0.1/x", "https://"],
)
def test_a_jwks_url_must_be_https_or_loopback_http(
    live: LiveServer, main: CliRun, url: str
) -> None:
    _one_line_error(
        main("pool", "create", "us-east-1_Url", "--jwks-url", url),
        f"JWKS URL {url!r} must be https, or http to a loopback address",
    )


def _write_record(admin: Admin, pool_id: str, **fields: str) -> None:
    """A pool record as another system (or an older version) might write it."""
    record = {"id": pool_id, "issuer": f"https://issuer.example/{pool_id}", "gen": "ab"} | fields
    admin.redis.hset(keys.pool(pool_id), mapping=record)
    admin.redis.sadd(keys.POOLS, pool_id)
    admin.redis.set(keys.POOLS_VERSION, f"v{time.monotonic_ns()}")


@pytest.mark.parametrize(
    "fields",
    [
        {"jwks": '{"keys": 5}'},
        {"jwks": "not json"},
        {"clients": '{"a": 1}'},
        {"gen": "not hex!"},
        {"id": "bad/id_x"},
        {"jwks": orjson.dumps({"keys": [{"kid": "x", "kty": "RSA", "n": "AQAB", "d": "AQ"}]})},
    ],
    ids=["keys-int", "jwks-not-json", "clients-object", "gen", "id", "private-member"],
)
def test_one_bad_pool_record_never_blocks_the_others(
    live: LiveServer, admin: Admin, main: CliRun, fields: dict[str, Any]
) -> None:
    _, device, token = admin.user_with_device("alice")
    _write_record(admin, "us-east-1_Broken", **fields)
    # A running worker keeps refreshing: a pool made after the bad one is served.
    created = store.create_pool
    admin.run(lambda r: created(r, admin.settings, "us-east-1_After"))
    admin.wait_pools()
    admin.create_user("bob", pool_id="us-east-1_After")
    other = admin.add_device(admin.run(lambda r: store.get_user(r, "us-east-1_After", "bob")))
    assert get_device(live.url, admin.token("bob", pool_id="us-east-1_After"), other).status == 200
    assert get_device(live.url, token, device).status == 200
    # A new worker starts, and the CLI commands that load pools work.
    registry = PoolRegistry()
    run(registry.load, admin.url)
    assert "us-east-1_Broken" not in registry.by_id
    assert {POOL, "us-east-1_After"} <= set(registry.by_id)
    code, _, err = main("revoke-token", token)
    assert (code, err) == (0, "")
    assert_cognito_error(
        get_device(live.url, token, device), "NotAuthorizedException", REVOKED, 400
    )


def test_served_jwks_has_public_members_only(live: LiveServer, admin: Admin) -> None:
    # Another system wrote extra members next to the public ones: they are not published.
    jwk = public_jwk(new_rsa_key(), "k1") | {"x5c": ["AAAA"], "ext": True}
    _write_record(admin, "us-east-1_Extra", jwks=orjson.dumps({"keys": [jwk]}).decode())
    admin.wait_pools()
    import urllib.request

    with urllib.request.urlopen(f"{live.url}/us-east-1_Extra/.well-known/jwks.json") as resp:
        served = json.loads(resp.read())
    assert served == {"keys": [{m: jwk[m] for m in ("alg", "e", "kid", "kty", "n", "use")}]}
    with urllib.request.urlopen(f"{live.url}/{POOL}/.well-known/jwks.json") as resp:
        access_key, id_key = json.loads(resp.read())["keys"]  # access and ID tokens' keys
    for own in (access_key, id_key):
        assert set(own) == {"alg", "e", "kid", "kty", "n", "use"}


# -- 3: a recreated pool shares nothing with the one it replaces ----------------------------------
def test_a_recreated_pool_does_not_honour_the_old_pools_tokens_or_users(
    live: LiveServer, admin: Admin
) -> None:
    pool = "us-east-1_Again"
    admin.run(lambda r: store.create_pool(r, admin.settings, pool))
    admin.wait_pools()
    user, device, token = admin.user_with_device("alice", pool_id=pool)
    assert get_device(live.url, token, device).status == 200  # its claims are now cached
    old = user_keys_in_redis(admin.redis, pool, "alice")
    assert old

    admin.run(lambda r: store.delete_pool(r, pool))
    admin.wait_pools()
    assert_cognito_error(
        get_device(live.url, token, device),
        "ResourceNotFoundException",
        f"User pool {pool} does not exist.",
        400,
    )
    # Deleting swept the pool's data: nothing of it is left in Redis.
    assert all(not admin.redis.exists(key) for key in old)
    assert admin.redis.hget(keys.pool(pool), "private_pem") is None

    admin.run(lambda r: store.create_pool(r, admin.settings, pool))
    admin.wait_pools()
    # The old token (signed by the old key, its claims once cached) is refused...
    assert_cognito_error(
        get_device(live.url, token, device), "NotAuthorizedException", INVALID, 400
    )
    # ...and the old user is not there: the name is free again, with a new identity.
    with pytest.raises(store.StoreError, match="User does not exist"):
        admin.run(lambda r: store.get_user(r, pool, "alice"))
    again = admin.create_user("alice", pool_id=pool)
    assert again.sub != user.sub
    assert again.gen != user.gen


def test_cached_claims_do_not_outlive_a_recreated_external_pool(
    live: LiveServer, admin: Admin, tmp_path: Path
) -> None:
    # The same external keys trusted before and after: the token still verifies, but the
    # user it names belongs to the old generation and is gone.
    key = new_rsa_key()
    jwks = {"keys": [public_jwk(key, "ext")]}
    pool, issuer = "us-east-1_Ext", "https://issuer.example/ext"

    def create(r: Any) -> Any:
        return store.create_pool(
            r, admin.settings, pool, jwks=jwks, issuer=issuer, client_ids=["client1"]
        )

    admin.run(create)
    admin.wait_pools()
    user = admin.create_user("alice", pool_id=pool)
    device = admin.add_device(user)
    now = int(time.time())
    claims = {
        "sub": user.sub, "iss": issuer, "client_id": "client1", "origin_jti": "o1",
        "token_use": "access", "scope": tokens.ADMIN_SCOPE, "exp": now + 600, "iat": now,
        "jti": "j1", "username": "alice",
    }  # fmt: skip
    token = sign_rs256({"kid": "ext", "alg": "RS256"}, claims, key)
    assert get_device(live.url, token, device).status == 200
    admin.run(lambda r: store.delete_pool(r, pool))
    admin.run(create)
    admin.wait_pools()
    assert_cognito_error(
        get_device(live.url, token, device), "UserNotFoundException", "User does not exist.", 400
    )


# -- 4: issuers are unique among live pools --------------------------------------------------------
def test_an_issuer_belongs_to_one_live_pool(live: LiveServer, admin: Admin, main: CliRun) -> None:
    _, device, token = admin.user_with_device("alice")
    issuer = split_token(token)[1]["iss"]
    _one_line_error(
        main("pool", "create", "us-east-1_Thief", "--issuer", issuer),
        f"Issuer {issuer} is already used by another user pool.",
    )
    admin.wait_pools()
    assert get_device(live.url, token, device).status == 200
    # Once its owner is deleted, an issuer is free again.
    assert main("pool", "create", "us-east-1_Other", "--issuer", "https://a.example/x")[0] == 0
    assert main("pool", "delete", "us-east-1_Other")[0] == 0
    assert main("pool", "create", "us-east-1_Third", "--issuer", "https://a.example/x")[0] == 0


# -- 5: admin input, with the model's constraints --------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pool", "create", "us-east-1/ab_X"], "user pool id 'us-east-1/ab_X' must match"),
        (["pool", "create", "x" * 50 + "_abcdef"], "user pool id"),
        (["pool", "create", "us-east-1_A", "--client-id", "a-b"], "client id 'a-b' must match"),
        (["pool", "create", "us-east-1_A", "--issuer", "not a url"], "issuer 'not a url' must be"),
        (["pool", "create", "us-east-1_A", "--issuer", "/relative"], "issuer '/relative' must be"),
        (["user", "create", ""], "username '' must be 1 to 128 characters long, not 0"),
        (["user", "create", "a" * 129], "username"),
        (["user", "create", "with space"], "username 'with space' may hold only"),
        (["user", "create", "tab\there"], "username"),
        (["user", "create", "ok", "--pool-id", "nope"], "user pool id 'nope' must match"),
        (["device", "add", "alice", "--key", "x"], "device key 'x' must match"),
        (["device", "add", "alice", "--name", ""], "device name '' must be 1 to 1024"),
        (["device", "add", "alice", "--name", "n" * 1025], "device name"),
        (["device", "add", "alice", "--ip", "999.1.1.1"], "IP address '999.1.1.1' is not"),
        (["token", "alice", "--ttl", "0"], "token lifetime 0 s must be 1 to 86400 seconds"),
        (["token", "alice", "--ttl", "999999"], "token lifetime 999999 s"),
        (["token", "alice", "--client-id", "a/b"], "client id 'a/b' must match"),
        (["token", "alice", "--device-key", "k"], "device key 'k' must match"),
        (["user", "update", "a b", "--enable"], "username 'a b' may hold only"),
    ],
)
def test_admin_input_is_validated(
    live: LiveServer, admin: Admin, main: CliRun, args: list[str], message: str
) -> None:
    admin.create_user("alice")
    _one_line_error(main(*args), message)


def test_unicode_usernames_and_ipv4_mapped_ips_are_accepted(
    live: LiveServer, admin: Admin, main: CliRun
) -> None:
    user = admin.create_user("zoë.ß+名前")
    fields = admin.run(lambda r: store.add_device(r, user, ip="::ffff:10.1.2.3"))
    assert fields["last_ip"] == "10.1.2.3"
    token = admin.token("zoë.ß+名前")
    assert get_device(live.url, token, fields["key"]).status == 200


_PARTS = st.text(min_size=1, max_size=12)
_POOL_IDS = st.from_regex(r"[a-z0-9-]{1,6}_[A-Za-z0-9]{1,6}", fullmatch=True)
_GENS = st.from_regex(r"[0-9a-f]{1,4}", fullmatch=True)
_SUFFIXES = st.sampled_from(["", ":devices", ":revoked", ":refresh", ":device:", ":c:", ":auth:"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    a=st.tuples(_POOL_IDS, _GENS, _PARTS, _SUFFIXES, st.text(max_size=6)),
    b=st.tuples(_POOL_IDS, _GENS, _PARTS, _SUFFIXES, st.text(max_size=6)),
)
def test_key_building_is_injective(
    a: tuple[str, str, str, str, str], b: tuple[str, str, str, str, str]
) -> None:
    def build(pool_id: str, gen: str, name: str, suffix: str, tail: str) -> str:
        base = keys.UserKeys(pool_id, gen, name).base
        return base + suffix + (tail if suffix.endswith(":") else "")

    def user_of(t: tuple[str, str, str, str, str]) -> tuple[str, str, str]:
        return t[0], t[1], t[2]

    if user_of(a) != user_of(b):
        assert build(*a) != build(*b)
        assert keys.UserKeys(*user_of(a)).base != keys.UserKeys(*user_of(b)).base


def test_a_slash_in_a_name_cannot_reach_another_pools_user() -> None:
    # Issue 9's collision: pool X with a user named "ab/S" against pool "X/ab" with user "S"
    # (the old layout joined them with "/"). Every field is delimited now.
    assert (
        keys.UserKeys("us-east-1_X", "1", "ab/S").base
        != keys.UserKeys("us-east-1_X/ab", "1", "S").base
    )
    assert keys.UserKeys("p_1", "1", "a:2:b").base != keys.UserKeys("p_1", "1", "a").base + ":2:b"


# -- 7: a deleted user's valid token writes nothing ---------------------------------------------
def test_a_deleted_users_token_recreates_no_keys(live: LiveServer, admin: Admin) -> None:
    _, device, token = admin.user_with_device("alice")
    admin.run(lambda r: store.delete_user(r, POOL, "alice"))
    for _ in range(2):
        assert_cognito_error(
            get_device(live.url, token, device),
            "UserNotFoundException",
            "User does not exist.",
            400,
        )
    assert user_keys_in_redis(admin.redis, POOL, "alice") == []
    # Created again under the same name, it is another user: the old token is not theirs.
    again = admin.create_user("alice")
    admin.add_device(again, key=device)
    assert_cognito_error(
        get_device(live.url, token, device), "UserNotFoundException", "User does not exist.", 400
    )
    assert get_device(live.url, admin.token("alice"), device).status == 200


# -- 8: sign-out holds whatever clock minted the token ---------------------------------------------
def test_our_tokens_iat_comes_from_redis_time(live: LiveServer, admin: Admin) -> None:
    admin.create_user("alice")
    token = admin.token("alice")
    redis_s = admin.redis.time()[0]
    assert split_token(token)[1]["iat"] <= redis_s


def test_sign_out_revokes_external_tokens_from_a_clock_a_few_seconds_ahead(
    live: LiveServer, admin: Admin
) -> None:
    key = new_rsa_key()
    pool, issuer = "us-east-1_Skew", "https://issuer.example/skew"
    admin.run(
        lambda r: store.create_pool(
            r,
            admin.settings,
            pool,
            jwks={"keys": [public_jwk(key, "k")]},
            issuer=issuer,
            client_ids=["client1"],
        )
    )
    admin.wait_pools()
    user = admin.create_user("alice", pool_id=pool)
    device = admin.add_device(user)
    ahead = int(admin.redis.time()[0]) + 3  # the issuer's clock runs 3 s fast
    claims = {
        "sub": user.sub, "iss": issuer, "client_id": "client1", "origin_jti": "o",
        "token_use": "access", "scope": tokens.ADMIN_SCOPE, "exp": ahead + 600, "iat": ahead,
        "jti": "j", "username": "alice",
    }  # fmt: skip
    token = sign_rs256({"kid": "k", "alg": "RS256"}, claims, key)
    assert get_device(live.url, token, device).status == 200
    admin.run(lambda r: store.sign_out_user(r, pool, "alice"))
    assert_cognito_error(
        get_device(live.url, token, device), "NotAuthorizedException", REVOKED, 400
    )


# -- 9: every UserStatusType, and malformed state, as Cognito treats them -----------------------
@pytest.mark.parametrize(
    ("status", "enabled", "type_name", "message"),
    [
        ("CONFIRMED", "1", None, None),
        ("EXTERNAL_PROVIDER", "1", None, None),
        ("UNCONFIRMED", "1", "UserNotConfirmedException", "User is not confirmed."),
        ("RESET_REQUIRED", "1", "PasswordResetRequiredException", RESET),
        ("FORCE_CHANGE_PASSWORD", "1", "PasswordResetRequiredException", RESET),
        ("ARCHIVED", "1", "NotAuthorizedException", "User is disabled."),
        ("COMPROMISED", "1", "NotAuthorizedException", "User is disabled."),
        ("UNKNOWN", "1", "NotAuthorizedException", "User is disabled."),
        ("confirmed", "1", "NotAuthorizedException", "User is disabled."),
        ("", "1", "NotAuthorizedException", "User is disabled."),
        ("CONFIRMED", "false", "NotAuthorizedException", "User is disabled."),
        ("CONFIRMED", "true", "NotAuthorizedException", "User is disabled."),
        ("CONFIRMED", "", "NotAuthorizedException", "User is disabled."),
    ],
)  # fmt: skip
def test_user_state_written_by_another_system(
    live: LiveServer,
    admin: Admin,
    status: str,
    enabled: str,
    type_name: str | None,
    message: str | None,
) -> None:
    user, device, token = admin.user_with_device("alice")
    admin.redis.hset(user.keys.user, mapping={"status": status, "enabled": enabled})
    answer = get_device(live.url, token, device)
    if type_name is None:
        assert answer.status == 200
    else:
        assert message is not None
        assert_cognito_error(answer, type_name, message, 400)


def test_a_user_hash_without_state_is_refused(live: LiveServer, admin: Admin) -> None:
    user, device, token = admin.user_with_device("alice")
    admin.redis.hdel(user.keys.user, "status", "enabled")
    assert_cognito_error(
        get_device(live.url, token, device), "NotAuthorizedException", "User is disabled.", 400
    )


# -- 10: disabling revokes ------------------------------------------------------------------------
def test_disable_then_enable_does_not_bring_old_tokens_back(
    live: LiveServer, admin: Admin, main: CliRun
) -> None:
    _, device, token = admin.user_with_device("alice")
    assert get_device(live.url, token, device).status == 200
    assert main("user", "update", "alice", "--disable")[0] == 0
    assert_cognito_error(
        get_device(live.url, token, device), "NotAuthorizedException", REVOKED, 400
    )
    assert main("user", "update", "alice", "--enable")[0] == 0
    assert_cognito_error(
        get_device(live.url, token, device), "NotAuthorizedException", REVOKED, 400
    )
    time.sleep(max(0.0, int(admin.redis.time()[0]) + 1.05 - time.time()))  # past the cut-off second
    assert get_device(live.url, admin.token("alice"), device).status == 200


# -- 11: a new pool is usable at once --------------------------------------------------------------
def test_a_new_pool_is_usable_within_milliseconds(
    live_factory: Callable[..., tuple[LiveServer, Admin]],
) -> None:
    # Periodic refresh is off for practical purposes: only read-your-writes can see the pool.
    server, helper = live_factory(pool_refresh_s=3600)
    settings_ = helper.settings

    async def scenario(r: Any) -> list[tuple[int, dict[str, Any]]]:
        answers = []
        for i in range(5):
            pool = f"us-east-1_New{i}"
            await store.create_pool(r, settings_, pool, device_tracking=i % 2 == 0)
            user = await store.create_user(r, pool, "u")
            device = (await store.add_device(r, user))["key"]
            token = (await store.token_minter(r, pool))(user)
            answer = await asyncio.to_thread(get_device, server.url, token, device)
            answers.append((answer.status, answer.json()))
        return answers

    for i, (status, body) in enumerate(helper.run(scenario)):
        if i % 2 == 0:
            assert status == 200, body
        else:
            assert body == {
                "__type": "InvalidUserPoolConfigurationException",
                "message": "Device tracking is not enabled for this user pool.",
            }


def test_forged_issuers_cost_no_reloads(
    live_factory: Callable[..., tuple[LiveServer, Admin]],
) -> None:
    server, _ = live_factory(pool_refresh_s=3600)
    key = new_rsa_key()
    registry = server.app[REGISTRY]
    counts = {"get": 0, "hgetall": 0}
    check, load = registry._check, registry._load

    async def counted_check(r: Any) -> bool:
        counts["get"] += 1
        return await check(r)

    async def counted_load(r: Any) -> None:
        counts["hgetall"] += 1
        await load(r)

    registry._check = counted_check  # type: ignore[method-assign]
    registry._load = counted_load  # type: ignore[method-assign]

    def stats() -> dict[str, int]:
        return dict(counts)

    def forged(i: int) -> tuple[int, Any]:
        claims = {"iss": f"https://forged.example/{i}", "sub": "s", "username": "u", "exp": 2**31}
        token = sign_rs256({"kid": "k", "alg": "RS256"}, claims, key)
        answer = get_device(server.url, token, "us-east-1_0000")
        return answer.status, tuple(sorted(answer.json().items()))

    before = stats()
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(forged, range(200)))
    elapsed = time.monotonic() - started
    after = stats()
    assert set(answers) == {(400, (("__type", "NotAuthorizedException"), ("message", INVALID)))}
    assert after["hgetall"] == before["hgetall"]  # no reload: the pools did not change
    # At most one version check per 50 ms interval, however many forged tokens arrive.
    checks = after["get"] - before["get"]
    assert checks <= elapsed / 0.05 + 2
    assert checks < 100
