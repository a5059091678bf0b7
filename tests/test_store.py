"""service.store: pools, users and devices in Redis, and the key layout of service.redis_io.keys."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from service import store
from service.credentials.pool import text
from service.redis_io import connect, keys
from service.runtime.settings import Settings
from tests.conftest import Admin, LiveServer
from tests.helpers_tokens import (
    get_device,
    lasting_user_keys,
    new_rsa_key,
    public_jwk,
    split_token,
    user_keys_in_redis,
)

POOL = "us-east-1_LocalPool"


@pytest.fixture
async def r(settings: Settings, clean_redis: None) -> AsyncIterator[aioredis.Redis]:
    client = connect.admin_client(settings.redis_url, 5)
    yield client
    await client.aclose()


def _slot(key: str) -> int:
    return int(key_slot(key.encode()))


# -- pools ---------------------------------------------------------------------------------------
async def test_the_default_pool_exists_without_set_up(
    r: aioredis.Redis, settings: Settings
) -> None:
    # clean_redis did what every command and the server do first: ensure_default_pool.
    record = await store.pool_record(r, settings.default_pool_id)
    assert record["id"] == POOL
    assert record["issuer"] == f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
    assert record["device_tracking"] == "1"
    kid = record["kid"]
    # Ensuring again changes nothing: same keys, same version.
    version = await r.get(keys.POOLS_VERSION)
    await store.ensure_default_pool(r, settings)
    assert (await store.pool_record(r, POOL))["kid"] == kid
    assert await r.get(keys.POOLS_VERSION) == version


async def test_ensure_default_pool_on_an_empty_redis(r: aioredis.Redis, settings: Settings) -> None:
    await r.flushall()
    await asyncio.gather(*(store.ensure_default_pool(r, settings) for _ in range(4)))
    assert await r.smembers(keys.POOLS) == {POOL.encode()}
    assert (await store.pool_record(r, POOL))["id"] == POOL


async def test_create_pool_is_atomic(r: aioredis.Redis, settings: Settings) -> None:
    # Two operators (or two workers) creating the same pool at once: exactly one wins; the other
    # is told the pool exists, instead of both printing client ids of which one is then lost.
    results = await asyncio.gather(
        *(store.create_pool(r, settings, "us-east-1_Race") for _ in range(4)),
        return_exceptions=True,
    )
    created = [x for x in results if isinstance(x, dict)]
    refused = [x for x in results if isinstance(x, store.StoreError)]
    assert len(created) == 1, results
    assert len(refused) == 3
    assert (await store.pool_record(r, "us-east-1_Race"))["kid"] == created[0]["kid"]


async def test_pool_lifecycle(r: aioredis.Redis, settings: Settings) -> None:
    versions = [await r.get(keys.POOLS_VERSION)]
    record = await store.create_pool(r, settings, "eu-west-1_Life", client_ids=["c1", "c2"])
    versions.append(await r.get(keys.POOLS_VERSION))
    assert record["region"] == "eu-west-1"
    assert record["clients"] == '["c1","c2"]'
    with pytest.raises(store.StoreError, match=r"^User pool eu-west-1_Life already exists\.$"):
        await store.create_pool(r, settings, "eu-west-1_Life")

    await store.update_pool(r, "eu-west-1_Life", device_tracking=False)
    versions.append(await r.get(keys.POOLS_VERSION))
    assert (await store.pool_record(r, "eu-west-1_Life"))["device_tracking"] == "0"

    await store.delete_pool(r, "eu-west-1_Life")
    versions.append(await r.get(keys.POOLS_VERSION))
    with pytest.raises(store.StoreError, match=r"^User pool eu-west-1_Life does not exist\.$"):
        await store.pool_record(r, "eu-west-1_Life")
    with pytest.raises(store.StoreError):
        await store.update_pool(r, "eu-west-1_Life", device_tracking=True)
    # The deleted pool's record stays (its tokens must still verify, to be told it is gone).
    assert await r.hget(keys.pool("eu-west-1_Life"), "deleted") == b"1"
    assert await r.sismember(keys.POOLS, "eu-west-1_Life")

    # Every change is announced with a new version value.
    assert len(set(versions)) == len(versions)

    # A deleted pool's id can be used again, with new keys.
    again = await store.create_pool(r, settings, "eu-west-1_Life")
    assert again["kid"] != record["kid"]
    assert (await store.pool_record(r, "eu-west-1_Life"))["deleted"] == "0"


async def test_a_pool_with_external_keys_cannot_mint(r: aioredis.Redis, settings: Settings) -> None:
    jwks = {"keys": [public_jwk(new_rsa_key(), "k")]}
    record = await store.create_pool(
        r, settings, "us-east-1_External", jwks=jwks, issuer="https://issuer.example.com/x"
    )
    assert "private_pem" not in record
    assert record["issuer"] == "https://issuer.example.com/x"
    with pytest.raises(store.StoreError, match="external keys"):
        await store.signing_key(r, "us-east-1_External")


# -- users ---------------------------------------------------------------------------------------
async def test_duplicate_user(r: aioredis.Redis) -> None:
    first = await store.create_user(r, POOL, "alice")
    with pytest.raises(store.StoreError, match=r"^User account already exists$"):
        await store.create_user(r, POOL, "alice")
    assert (await store.get_user(r, POOL, "alice")).sub == first.sub


async def test_concurrent_creation_of_one_user(r: aioredis.Redis) -> None:
    results = await asyncio.gather(
        *(store.create_user(r, POOL, "bob") for _ in range(5)), return_exceptions=True
    )
    users = [x for x in results if isinstance(x, store.User)]
    assert len(users) == 1
    assert (await store.get_user(r, POOL, "bob")).sub == users[0].sub


async def test_users_need_an_existing_pool(r: aioredis.Redis) -> None:
    with pytest.raises(store.StoreError, match=r"^User pool us-east-1_None does not exist\.$"):
        await store.create_user(r, "us-east-1_None", "carl")


async def test_user_fields_and_updates(r: aioredis.Redis) -> None:
    user = await store.create_user(r, POOL, "dana", status="UNCONFIRMED", enabled=False)
    stored = await r.hgetall(user.keys.user)
    assert stored[b"username"] == b"dana"
    assert stored[b"sub"] == user.sub.encode()
    assert (stored[b"status"], stored[b"enabled"]) == (b"UNCONFIRMED", b"0")

    updated = await store.update_user(r, POOL, "dana", status="CONFIRMED", enabled=True)
    assert (updated.status, updated.enabled, updated.sub) == ("CONFIRMED", True, user.sub)
    unchanged = await store.update_user(r, POOL, "dana")
    assert unchanged == updated


async def test_sign_out_uses_redis_time(r: aioredis.Redis) -> None:
    await store.create_user(r, POOL, "erin")
    before = await store.server_ms(r)
    cutoff = await store.sign_out_user(r, POOL, "erin")
    after = await store.server_ms(r)
    assert before <= cutoff <= after
    user = await store.get_user(r, POOL, "erin")
    assert int(await r.hget(user.keys.user, "signed_out_ms") or 0) == cutoff


async def test_add_device(r: aioredis.Redis) -> None:
    user = await store.create_user(r, POOL, "fay")
    fields = await store.add_device(r, user, name="phone", ip="192.0.2.9")
    assert re.fullmatch(
        r"us-east-1_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        fields["key"],
    )
    stored = {
        text(k): text(v) for k, v in (await r.hgetall(user.keys.device(fields["key"]))).items()
    }
    assert stored == fields
    assert (stored["status"], stored["remembered"], stored["sdk"]) == (
        "valid",
        "remembered",
        "aws-sdk",
    )
    assert stored["create_ms"] == stored["modified_ms"]
    assert int(stored["last_auth_ms"]) % 1000 == 0
    assert int(stored["create_ms"]) - int(stored["last_auth_ms"]) < 1000
    assert await r.hkeys(user.keys.devices) == [fields["key"].encode()]


# -- deleting a user, and the key layout -----------------------------------------------------------
def _populate(live: LiveServer, admin: Admin, name: str) -> tuple[store.User, list[str]]:
    """A user with every kind of key: devices, cached claims, revoked origin_jti."""
    user = admin.create_user(name)
    devices = [admin.add_device(user, name="a"), admin.add_device(user, name="b")]
    token = admin.token(name)
    assert get_device(live.url, token, devices[0]).status == 200
    origin = split_token(admin.token(name))[1]["origin_jti"]
    admin.run(lambda r: store.revoke_origin_jti(r, POOL, name, user.sub, origin))
    admin.run(lambda r: store.sign_out_user(r, POOL, name))
    return user, devices


def test_every_key_of_a_user_shares_one_hash_slot(live: LiveServer, admin: Admin) -> None:
    user, devices = _populate(live, admin, "gus")
    found = user_keys_in_redis(admin.redis, POOL, user.username)
    k = user.keys
    expected = {k.user, k.devices, k.revoked, *(k.device(d) for d in devices)}
    assert expected <= set(found)
    assert any(key.startswith(k.base + ":c:") for key in found)
    # Nothing of this user lives outside its tag, and everything under it is one slot.
    everything = [key.decode() for key in admin.redis.scan_iter(count=1000) if b":3:gus}" in key]
    assert sorted(everything) == found
    tag = f"{{{POOL}:{user.gen}:3:gus}}"
    assert all(tag in key for key in found)
    assert len({_slot(key) for key in found}) == 1
    assert _slot(k.claims("0" * 40)) == _slot(k.user) == _slot(k.device("us-east-1_x"))


def test_keys_use_one_prefix_and_the_documented_layout() -> None:
    k = keys.UserKeys("us-east-1_P", "0a1b", "U")
    assert keys.PREFIX == "cgd:"
    assert keys.POOLS == "cgd:{pools}:ids"
    assert keys.POOLS_VERSION == "cgd:{pools}:version"
    assert keys.ISSUERS == "cgd:{pools}:issuers"
    assert keys.pool("us-east-1_P") == "cgd:{pools}:pool:us-east-1_P"
    assert keys.pool_bucket("us-east-1_P", "UserToken") == "cgd:bucket:{us-east-1_P}:UserToken"
    assert (k.user, k.devices, k.revoked, k.refresh) == (
        "cgd:user:{us-east-1_P:0a1b:1:U}",
        "cgd:user:{us-east-1_P:0a1b:1:U}:devices",
        "cgd:user:{us-east-1_P:0a1b:1:U}:revoked",
        "cgd:user:{us-east-1_P:0a1b:1:U}:refresh",
    )
    assert k.device("us-east-1_d") == "cgd:user:{us-east-1_P:0a1b:1:U}:device:us-east-1_d"
    # user_base writes user_prefix out (it runs on every route-cache miss): the same text.
    assert k.base.startswith(keys.user_prefix("us-east-1_P", "0a1b"))
    # Cached claims: a short suffix, and no index (every active user has one per token).
    assert k.claims("abc") == "cgd:user:{us-east-1_P:0a1b:1:U}:c:abc"
    # Every pool record, the id set, the issuer index and the version share one slot, so a
    # pool's creation, change or deletion is one atomic script even on a cluster.
    control = {keys.pool("p_1"), keys.pool("q_2"), keys.POOLS, keys.ISSUERS, keys.POOLS_VERSION}
    assert len({_slot(key) for key in control}) == 1


def test_delete_user_removes_every_key_of_the_user(live: LiveServer, admin: Admin) -> None:
    user, _ = _populate(live, admin, "hana")
    other, _ = _populate(live, admin, "ivo")
    others_before = user_keys_in_redis(admin.redis, POOL, other.username)

    admin.run(lambda r: store.delete_user(r, POOL, "hana"))

    # Everything but their cached claims, which nothing indexes: those expire (checked here).
    assert lasting_user_keys(admin.redis, POOL, user.username) == []
    assert user_keys_in_redis(admin.redis, POOL, other.username) == others_before
    with pytest.raises(store.StoreError, match=r"^User does not exist\.$"):
        admin.run(lambda r: store.get_user(r, POOL, "hana"))


def test_delete_user_of_an_unknown_user(admin: Admin, live: LiveServer) -> None:
    with pytest.raises(store.StoreError, match=r"^User does not exist\.$"):
        admin.run(lambda r: store.delete_user(r, POOL, "nobody"))
