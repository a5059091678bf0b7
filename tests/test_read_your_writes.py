"""Read-your-writes under a burst (issue 20, section 3): what an admin call has written is what
every worker answers by, for a burst of parallel requests, not only for one at a time.

Two app instances share one Redis, each with POOL_REFRESH_S=30, so a worker only knows what
changed by asking. The write goes through one worker's admin API (or the store, as the CLI
writes); the burst goes to the other, or to both."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import orjson

from service import store
from service.http.app import REGISTRY
from tests.conftest import Admin, LiveServer, boto_client

TARGET = "AWSCognitoIdentityProviderService."
PASSWORD = "Perm4nent!Pass"
BURST = 12
ROUNDS = 3
INVALID = "Invalid Access Token"
DEVICE_TRACKING_OFF = "Device tracking is not enabled for this user pool."

# On a cluster too: the version read and the claims sweep go by slot there.
BACKENDS = ("single", "cluster")

Factory = Callable[..., tuple[LiveServer, Admin]]
Answer = tuple[int, dict[str, Any]]


async def _burst(calls: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Answer]:
    """Every (server url, operation, body) at once, over separate connections."""
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(url: str, op: str, body: dict[str, Any]) -> Answer:
            headers = {"X-Amz-Target": TARGET + op, "Content-Type": "application/x-amz-json-1.1"}
            async with session.post(url + "/", data=orjson.dumps(body), headers=headers) as resp:
                return resp.status, orjson.loads(await resp.read())

        return list(await asyncio.gather(*(one(*call) for call in calls)))


def burst(calls: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Answer]:
    return asyncio.run(_burst(calls))


def sign_in(url: str, client_id: str, i: int = 0) -> tuple[str, str, dict[str, Any]]:
    """User i's sign-in: each request of a burst signs a different user in (the lockout counts
    a password attempt up front, so a burst for one user would lock it out)."""
    return (
        url,
        "InitiateAuth",
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": client_id,
            "AuthParameters": {"USERNAME": f"user{i}", "PASSWORD": PASSWORD},
        },
    )


def refresh(url: str, client_id: str, token: str) -> tuple[str, str, dict[str, Any]]:
    params = {"REFRESH_TOKEN": token}
    return (
        url,
        "InitiateAuth",
        {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client_id, "AuthParameters": params},
    )


def list_devices(url: str, token: str) -> tuple[str, str, dict[str, Any]]:
    return url, "ListDevices", {"AccessToken": token}


def error(answer: Answer) -> tuple[int, str, str]:
    status, body = answer
    return status, body.get("__type", ""), body.get("message", "")


def two_workers(live_factory: Factory) -> tuple[LiveServer, LiveServer, Admin, Any]:
    """Worker A (the bursts' target) and worker B (the admin calls' target), both refreshing
    their pools only every 30 s, and a boto3 client on B."""
    # A per-user bucket large enough for the bursts: they test freshness, not quotas.
    a, _ = live_factory(pool_refresh_s=30, user_burst=1000)
    b, helper = live_factory(pool_refresh_s=30, user_burst=1000)
    return a, b, helper, boto_client(b.url)


def new_client(cognito: Any, pool_id: str) -> str:
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="burst",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    return str(client["ClientId"])


def pool_with_user(cognito: Any, helper: Admin, workers: Sequence[LiveServer]) -> tuple[str, str]:
    """A pool, an app client and BURST confirmed users, loaded by every worker."""
    pool_id = cognito.create_user_pool(
        PoolName="burst", DeviceConfiguration={"ChallengeRequiredOnNewDevice": False}
    )["UserPool"]["Id"]
    client_id = new_client(cognito, pool_id)
    for i in range(BURST):
        name = f"user{i}"
        cognito.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=name, Password=PASSWORD, Permanent=True
        )
    for worker in workers:
        reload(worker)
    return pool_id, client_id


def reload(worker: LiveServer) -> None:
    """Have `worker` load the pools now, on its own loop (its periodic refresh is 30 s away)."""
    registry = worker.app[REGISTRY]
    assert worker._loop is not None and registry._client is not None
    asyncio.run_coroutine_threadsafe(registry.load(registry._client), worker._loop).result(10)


def signed_in(a: LiveServer, b: LiveServer, client_id: str) -> tuple[str, str]:
    """user0's access and refresh tokens, the access token used (cached) on both workers."""
    ((status, body),) = burst([sign_in(a.url, client_id)])
    assert status == 200, body
    tokens = body["AuthenticationResult"]
    access, refresh_token = tokens["AccessToken"], tokens["RefreshToken"]
    for status, body in burst([list_devices(a.url, access), list_devices(b.url, access)] * 2):
        assert status == 200, body
    return access, refresh_token


# -- a new client, pool or key is usable at once, by a whole burst ------------------------------
def test_a_burst_signs_in_through_a_client_made_a_moment_ago(live_factory: Factory) -> None:
    a, b, helper, cognito = two_workers(live_factory)
    pool_id, _ = pool_with_user(cognito, helper, [a, b])
    for _ in range(ROUNDS):
        client_id = new_client(cognito, pool_id)  # through B: A has not loaded it
        answers = burst([sign_in(a.url, client_id, i) for i in range(BURST)])
        assert [status for status, _ in answers] == [200] * BURST, answers


def test_a_burst_uses_tokens_of_a_pool_made_a_moment_ago(live_factory: Factory) -> None:
    a, _, helper, _ = two_workers(live_factory)
    settings = helper.settings

    for i in range(ROUNDS):
        pool_id = f"us-east-1_Burst{i}"

        async def new_pool_token(r: Any, pool_id: str = pool_id) -> str:
            await store.create_pool(r, settings, pool_id)
            user = await store.create_user(r, pool_id, "u")
            return str((await store.token_minter(r, pool_id))(user))

        token = helper.run(new_pool_token)
        answers = burst([list_devices(a.url, token)] * BURST)
        assert [status for status, _ in answers] == [200] * BURST, answers


# -- a narrowing write is what every worker answers by once the admin call has answered --------
def test_a_deleted_client_signs_no_one_in_and_its_tokens_stop(live_factory: Factory) -> None:
    a, b, helper, cognito = two_workers(live_factory)
    pool_id, client_id = pool_with_user(cognito, helper, [a, b])
    access, refresh_token = signed_in(a, b, client_id)

    cognito.delete_user_pool_client(UserPoolId=pool_id, ClientId=client_id)

    gone = (400, "ResourceNotFoundException", f"User pool client {client_id} does not exist.")
    calls = [sign_in(a.url, client_id, i) for i in range(BURST)]
    calls += [refresh(a.url, client_id, refresh_token)] * BURST
    assert {error(answer) for answer in burst(calls)} == {gone}
    # Its access tokens are refused on both workers, cached claims or not.
    calls = [list_devices(a.url, access), list_devices(b.url, access)] * (BURST // 2)
    assert {error(answer) for answer in burst(calls)} == {(400, "NotAuthorizedException", INVALID)}
    # RevokeToken through it: the client is unknown.
    ((status, body),) = burst(
        [(a.url, "RevokeToken", {"Token": refresh_token, "ClientId": client_id})]
    )
    assert (status, body["__type"]) == (400, "UnauthorizedException")


def test_a_deleted_pool_is_gone_on_every_worker(live_factory: Factory) -> None:
    a, b, helper, cognito = two_workers(live_factory)
    pool_id, client_id = pool_with_user(cognito, helper, [a, b])
    access, refresh_token = signed_in(a, b, client_id)

    cognito.delete_user_pool(UserPoolId=pool_id)

    no_pool = (400, "ResourceNotFoundException", f"User pool {pool_id} does not exist.")
    calls = [list_devices(a.url, access), list_devices(b.url, access)] * (BURST // 2)
    assert {error(answer) for answer in burst(calls)} == {no_pool}
    no_client = (400, "ResourceNotFoundException", f"User pool client {client_id} does not exist.")
    calls = [sign_in(a.url, client_id, i) for i in range(BURST)]
    calls += [refresh(a.url, client_id, refresh_token)] * BURST
    assert {error(answer) for answer in burst(calls)} == {no_client}


def test_a_disabled_user_is_refused_by_a_burst_on_both_workers(live_factory: Factory) -> None:
    a, b, helper, cognito = two_workers(live_factory)
    pool_id, client_id = pool_with_user(cognito, helper, [a, b])
    access, refresh_token = signed_in(a, b, client_id)

    cognito.admin_disable_user(UserPoolId=pool_id, Username="user0")

    # AdminDisableUser also revokes the user's tokens (see docs/errors.md's table).
    calls = [list_devices(a.url, access), list_devices(b.url, access)] * (BURST // 2)
    revoked = (400, "NotAuthorizedException", "Access Token has been revoked")
    assert {error(answer) for answer in burst(calls)} == {revoked}
    calls = [sign_in(a.url, client_id), sign_in(b.url, client_id)] * 3
    calls += [refresh(a.url, client_id, refresh_token), refresh(b.url, client_id, refresh_token)]
    answers = burst(calls)
    assert {error(answer)[:2] for answer in answers} == {(400, "NotAuthorizedException")}
    assert {error(answer) for answer in answers[:6]} == {
        (400, "NotAuthorizedException", "User is disabled.")
    }


def test_a_narrowed_auth_flow_list_holds_at_once(live_factory: Factory) -> None:
    a, b, helper, cognito = two_workers(live_factory)
    pool_id, client_id = pool_with_user(cognito, helper, [a, b])
    _, refresh_token = signed_in(a, b, client_id)

    async def refresh_only(r: Any) -> None:
        old = (await store.pool_record(r, pool_id))["clients"]
        clients = orjson.loads(old)
        for client in clients:
            client["explicit_auth_flows"] = ["ALLOW_REFRESH_TOKEN_AUTH"]
        assert await store.swap_clients(r, pool_id, old, orjson.dumps(clients).decode())

    helper.run(refresh_only)

    off = (400, "InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client")
    calls = [sign_in(w.url, client_id, i) for i in range(BURST) for w in (a, b)]
    assert {error(answer) for answer in burst(calls)} == {off}
    # The flow still allowed still works.
    answers = burst([refresh(a.url, client_id, refresh_token)] * 2)
    assert [status for status, _ in answers] == [200, 200], answers


def test_device_tracking_turned_off_stops_device_calls_at_once(live_factory: Factory) -> None:
    a, b, helper, cognito = two_workers(live_factory)
    pool_id, client_id = pool_with_user(cognito, helper, [a, b])
    access, _ = signed_in(a, b, client_id)

    helper.run(lambda r: store.update_pool(r, pool_id, device_tracking=False))

    off = (400, "InvalidUserPoolConfigurationException", DEVICE_TRACKING_OFF)
    calls = [list_devices(a.url, access), list_devices(b.url, access)] * (BURST // 2)
    assert {error(answer) for answer in burst(calls)} == {off}


def test_the_claims_sweep_takes_claims_only(live_factory: Factory) -> None:
    """A username holding `}:c:` makes the user's own keys match the sweep's SCAN pattern: they
    stay, and the claims go."""
    a, b, helper, cognito = two_workers(live_factory)
    pool_id, client_id = pool_with_user(cognito, helper, [a, b])
    tricky = "x}:c:y"
    cognito.admin_create_user(UserPoolId=pool_id, Username=tricky, MessageAction="SUPPRESS")
    signed_in(a, b, client_id)
    user_keys = {k for k in helper.redis.scan_iter(match=f"cgd:user:{{{pool_id}:*") if b":c:" in k}
    claims = {k for k in user_keys if k.rsplit(b"}:c:", 1)[0].endswith(b"user0")}
    assert claims and user_keys - claims  # the tricky user's hash matches the pattern too

    removed = helper.run(lambda r: store.sweep_claims(r, pool_id))

    assert removed == len(claims)
    assert {k for k in user_keys if helper.redis.exists(k)} == user_keys - claims
