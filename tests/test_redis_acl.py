"""The service on a Redis ACL user holding exactly the permissions docs/redis.md gives: every
operation works, and Redis's ACL LOG records no refusal (a refusal the service swallows too)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.config
import pytest
import redis
from pycognito.aws_srp import AWSSRP

from service.redis_io import keys
from tests.conftest import PROJECT, Admin, LiveServer, RedisServer, make_settings

PASSWORD = "Corr3ct-Horse!"


def documented_acl() -> list[str]:
    """The ACL SETUSER rules of docs/redis.md (after the user name), password left out."""
    text = (PROJECT / "docs" / "redis.md").read_text()
    match = re.search(r"^ACL SETUSER cgd (.+)$", text, re.MULTILINE)
    assert match, "docs/redis.md gives no ACL SETUSER line"
    return [rule for rule in match.group(1).split() if not rule.startswith(">")]


@pytest.fixture(scope="module")
def acl_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def acl_url(server: RedisServer, rules: list[str]) -> str:
    with redis.Redis.from_url(server.url) as root:
        root.flushall()
        root.execute_command("ACL", "DELUSER", "cgd")
        root.execute_command("ACL", "SETUSER", "cgd", "reset", ">cgd-secret", *rules)
        root.execute_command("ACL", "LOG", "RESET")
    return f"redis://cgd:cgd-secret@127.0.0.1:{server.port}/0"


def acl_log(server: RedisServer) -> list[Any]:
    with redis.Redis.from_url(server.url) as root:
        return list(root.acl_log())


def signed_client(url: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )


def exercise(server: LiveServer, root: Admin, midway: Callable[[], None] = lambda: None) -> None:
    """Every kind of work the service does on Redis, through the wire: the admin plane, sign-in
    (password, SRP, refresh), the device operations, sign-out, deleting a user and a pool.
    `midway` runs while sign-in sessions, cached claims and buckets exist."""
    creds = root.redis.hgetall(keys.ADMIN_CREDENTIALS)
    key_id, secret = next(iter(creds.items()))
    idp = signed_client(server.url, key_id.decode(), secret.decode())
    pool = idp.create_user_pool(PoolName="acl-pool")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName="app",
        ExplicitAuthFlows=[
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_USER_SRP_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
            "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        ],
    )["UserPoolClient"]["ClientId"]
    root.wait_pools()
    idp.admin_create_user(UserPoolId=pool, Username="bob", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="bob", Password=PASSWORD, Permanent=True)
    assert idp.admin_get_user(UserPoolId=pool, Username="bob")["Username"] == "bob"
    tokens = idp.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client,
        AuthParameters={"USERNAME": "bob", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    # SRP: one sign-in completed, one left waiting (its session lives on, with its TTL).
    srp = AWSSRP("bob", PASSWORD, pool, client, client=idp)
    params = srp.get_auth_params()
    challenge = idp.initiate_auth(AuthFlow="USER_SRP_AUTH", ClientId=client, AuthParameters=params)
    answers = srp.process_challenge(challenge["ChallengeParameters"], params)
    idp.respond_to_auth_challenge(
        ClientId=client, ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=answers
    )
    idp.initiate_auth(
        AuthFlow="USER_SRP_AUTH", ClientId=client, AuthParameters=srp.get_auth_params()
    )
    idp.initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH",
        ClientId=client,
        AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]},
    )
    # The device operations, on a device of the default pool's user.
    _user, device, token = root.user_with_device("carol")
    assert idp.get_device(AccessToken=token, DeviceKey=device)["Device"]["DeviceKey"] == device
    idp.list_devices(AccessToken=token)
    idp.update_device_status(
        AccessToken=token, DeviceKey=device, DeviceRememberedStatus="remembered"
    )
    midway()
    idp.forget_device(AccessToken=token, DeviceKey=device)
    idp.global_sign_out(AccessToken=tokens["AccessToken"])
    idp.admin_delete_user(UserPoolId=pool, Username="bob")
    idp.delete_user_pool(UserPoolId=pool)


def start(url: str, root_url: str, **overrides: Any) -> tuple[LiveServer, Admin]:
    # No ADMIN_CREDENTIALS: the service makes and stores its own pair, on the ACL user too.
    settings = make_settings(url, admin_credentials={}, **overrides)
    server = LiveServer(settings).start()
    root = Admin(make_settings(root_url), server)
    root.wait_pools()
    return server, root


@pytest.mark.timeout(90)
def test_the_service_runs_on_an_acl_user_with_only_the_documented_permissions(
    acl_redis: RedisServer,
) -> None:
    server, root = start(acl_url(acl_redis, documented_acl()), acl_redis.url, pool_rate_limit=True)
    try:
        exercise(server, root)
    finally:
        server.stop()
        root.redis.close()
    refused = [(e["reason"], e["object"]) for e in acl_log(acl_redis)]
    assert refused == [], f"Redis refused commands to the documented ACL user: {refused}"


def test_the_usual_category_rules_lack_time(acl_redis: RedisServer) -> None:
    """Why docs/redis.md names TIME: the rule set people reach for first refuses it, and every
    script starts with it."""
    rules = [
        "~cgd:*",
        "+@read",
        "+@write",
        "+@scripting",
        "+@connection",
        "+@keyspace",
        "-@dangerous",
    ]
    url = acl_url(acl_redis, ["on", *rules])
    with redis.Redis.from_url(url) as r, pytest.raises(redis.exceptions.NoPermissionError):
        r.time()
    url = acl_url(acl_redis, ["on", *rules, "+time"])
    with redis.Redis.from_url(url) as r:
        assert r.time()
