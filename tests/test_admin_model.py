"""Model-based: random sequences of admin writes (service.store) against the real Redis, with
GetDevice over real HTTP in between, each answer checked exactly against an in-memory model.

The model is docs/errors.md's table and the order of checks in the token step
(service/sessions/session.py and _session.lua):
token (a recreated pool has a new key), pool (deleted, device tracking), user (a recreated
user has a new sub), revocation (sign-out or disable cut-off, origin_jti), enabled, status,
device. Sign-out cut-offs are compared as get_device.lua does (`iat * 1000 <= signed_out_ms`),
with each token's own iat and the cut-off Redis stored, so same-second tokens are modelled
exactly rather than avoided by sleeping.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from service import store
from service.model import errors as e
from service.redis_io import connect
from tests.conftest import Admin, LiveServer, flush
from tests.helpers_tokens import assert_cognito_error, get_device, split_token

T = TypeVar("T")


DEFAULT_POOL = "us-east-1_LocalPool"
POOL_IDS = (DEFAULT_POOL, "us-east-1_ModelA", "eu-west-1_ModelB")
# A name holding the characters the key encoding must survive (":", "}", "/").
USERNAMES = ("alice", "bob", "x:1}/y")
UNKNOWN_DEVICE = "us-east-1_00000000-0000-4000-8000-000000000000"
MAX_POOL_CHANGES = 3
FAST_BUCKET = {"user_rate_per_s": 1_000_000.0, "user_burst": 1_000_000}
MODEL_RUNS = settings(
    max_examples=60,
    stateful_step_count=35,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

pool_ids = st.sampled_from(POOL_IDS)
usernames = st.sampled_from(USERNAMES)


@dataclass
class ModelUser:
    sub: str
    enabled: bool = True
    status: str = "CONFIRMED"
    cutoff_ms: int | None = None  # signed_out_ms: the last sign-out or disable
    revoked_ojti: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)


@dataclass
class ModelPool:
    incarnation: int  # which create of this id; a recreated pool has a new key
    live: bool = True
    device_tracking: bool = True
    users: dict[str, ModelUser] = field(default_factory=dict)


@dataclass(frozen=True)
class Minted:
    token: str
    pool_id: str
    incarnation: int
    username: str
    sub: str
    iat: int
    origin_jti: str


# What GetDevice must answer: ("OK", owner) or (__type, message).
Expected = tuple[str, str]


class AdminModel(RuleBasedStateMachine):
    """Admin writes and GetDevice, against one model of who may see what."""

    live: LiveServer
    admin: Admin

    def __init__(self) -> None:
        super().__init__()
        flush(self.admin.settings)  # the way clean_redis starts every test
        self.runner = asyncio.Runner()
        self.r: aioredis.Redis = connect.admin_client(self.admin.url, 5)
        self.sync = redis.Redis.from_url(self.admin.url)
        self.incarnations = 0
        self.pools: dict[str, ModelPool] = {DEFAULT_POOL: self._new_pool(device_tracking=True)}
        self.subs_seen: set[str] = set()
        # Everything made so far, deleted or not: later steps draw from these.
        self.created: list[tuple[str, str]] = []  # (pool id, username)
        self.minted: list[Minted] = []
        self.device_keys: list[str] = [UNKNOWN_DEVICE]
        self.steps = 0
        self.pool_changes = 0
        self.admin.wait_pools()

    @initialize(n=st.integers(1, len(USERNAMES)))
    def populate(self, n: int) -> None:
        """Start from a few users of the default pool, each with a device and a token."""
        for username in USERNAMES[:n]:
            self._create_user(DEFAULT_POOL, username)
            self._add_device(DEFAULT_POOL, username)
            self._mint(DEFAULT_POOL, username, None)

    def teardown(self) -> None:
        try:
            with urllib.request.urlopen(f"{self.live.url}/healthz", timeout=5) as resp:
                assert resp.status == 200
        finally:
            self.runner.run(self.r.aclose())
            self.runner.close()
            self.sync.close()

    # -- plumbing -------------------------------------------------------------------------
    def _new_pool(self, *, device_tracking: bool) -> ModelPool:
        self.incarnations += 1
        return ModelPool(self.incarnations, device_tracking=device_tracking)

    def _call(
        self, fn: Callable[[aioredis.Redis], Coroutine[Any, Any, T]], refused: str | None
    ) -> T | None:
        """Run one admin write; it must fail with exactly `refused` (a StoreError), or succeed."""
        try:
            result: T = self.runner.run(fn(self.r))
        except store.StoreError as exc:
            assert refused is not None, f"unexpected refusal: {exc}"
            assert str(exc) == refused
            return None
        assert refused is None, f"expected {refused!r}, but the write succeeded"
        return result

    def _server_ms(self) -> int:
        return self.runner.run(store.server_ms(self.r))

    def _signed_out_ms(self, user: store.User) -> int | None:
        raw = self.sync.hget(user.keys.user, "signed_out_ms")
        return None if raw is None else int(raw)

    def _someone(self, data: st.DataObject) -> tuple[str, str]:
        """Mostly a user who exists now, else one created earlier (perhaps deleted since, or in
        a pool deleted since), else any name."""
        existing = [
            (pool_id, username)
            for pool_id, pool in self.pools.items()
            if pool.live
            for username in pool.users
        ]
        kind = data.draw(st.integers(0, 3), label="kind")
        if existing and kind < 2:
            return data.draw(st.sampled_from(existing), label="user")
        if self.created and kind < 3:
            return data.draw(st.sampled_from(self.created), label="user")
        return data.draw(st.tuples(pool_ids, usernames), label="user")

    def _live_pool(self, pool_id: str) -> ModelPool | None:
        pool = self.pools.get(pool_id)
        return pool if pool is not None and pool.live else None

    def _user_refusal(self, pool_id: str, username: str) -> str | None:
        """Why a write addressed to (pool, username) must be refused, if it must."""
        pool = self._live_pool(pool_id)
        if pool is None:
            return e.pool_not_found(pool_id)
        if username not in pool.users:
            return e.USER_NOT_FOUND
        return None

    # -- pools ----------------------------------------------------------------------------
    # Pools change less often than users: one rule for create, delete, and delete-then-create,
    # a few times per run (each create makes an RSA key and waits for the server to reload).
    @precondition(lambda self: self.pool_changes < MAX_POOL_CHANGES)
    @rule(
        pool_id=pool_ids,
        steps=st.sampled_from([("delete", "create"), ("create",), ("delete",)]),
        device_tracking=st.booleans(),
    )
    def pool_lifecycle(self, pool_id: str, steps: tuple[str, ...], device_tracking: bool) -> None:
        self.pool_changes += 1
        for step in steps:
            if step == "create":
                self._create_pool(pool_id, device_tracking)
            else:
                self._delete_pool(pool_id)

    def _create_pool(self, pool_id: str, device_tracking: bool) -> None:
        refused = f"User pool {pool_id} already exists." if self._live_pool(pool_id) else None
        record = self._call(
            lambda r: store.create_pool(
                r, self.admin.settings, pool_id, device_tracking=device_tracking
            ),
            refused,
        )
        if record is not None:
            self.pools[pool_id] = self._new_pool(device_tracking=device_tracking)
        self.admin.wait_pools()

    def _delete_pool(self, pool_id: str) -> None:
        pool = self._live_pool(pool_id)
        refused = None if pool else e.pool_not_found(pool_id)
        self._call(lambda r: store.delete_pool(r, pool_id), refused)
        if pool is not None:
            pool.live = False
            pool.users.clear()
        self.admin.wait_pools()

    @rule(pool_id=pool_ids, device_tracking=st.booleans())
    def set_device_tracking(self, pool_id: str, device_tracking: bool) -> None:
        pool = self._live_pool(pool_id)
        refused = None if pool else e.pool_not_found(pool_id)
        self._call(
            lambda r: store.update_pool(r, pool_id, device_tracking=device_tracking), refused
        )
        if pool is not None:
            pool.device_tracking = device_tracking
        self.admin.wait_pools()

    # -- users ----------------------------------------------------------------------------
    @rule(pool_id=pool_ids, username=usernames)
    def create_user(self, pool_id: str, username: str) -> None:
        self._create_user(pool_id, username)

    def _create_user(self, pool_id: str, username: str) -> None:
        pool = self._live_pool(pool_id)
        if pool is None:
            refused: str | None = e.pool_not_found(pool_id)
        elif username in pool.users:
            refused = "User account already exists"
        else:
            refused = None
        user = self._call(lambda r: store.create_user(r, pool_id, username), refused)
        if user is not None:
            assert pool is not None
            assert user.sub not in self.subs_seen, "a recreated user must get a new sub"
            self.subs_seen.add(user.sub)
            pool.users[username] = ModelUser(user.sub)
            self.created.append((pool_id, username))

    @rule(data=st.data())
    def delete_user(self, data: st.DataObject) -> None:
        self._delete_user(*self._someone(data))

    def _delete_user(self, pool_id: str, username: str) -> None:
        refused = self._user_refusal(pool_id, username)
        self._call(lambda r: store.delete_user(r, pool_id, username), refused)
        if refused is None:
            del self.pools[pool_id].users[username]

    @rule(data=st.data())
    def sign_out(self, data: st.DataObject) -> None:
        self._sign_out(*self._someone(data))

    def _sign_out(self, pool_id: str, username: str) -> None:
        refused = self._user_refusal(pool_id, username)
        before_ms = self._server_ms()
        cutoff = self._call(lambda r: store.sign_out_user(r, pool_id, username), refused)
        if cutoff is None:
            return
        assert before_ms <= cutoff <= self._server_ms()
        user = self.runner.run(store.get_user(self.r, pool_id, username))
        assert self._signed_out_ms(user) == cutoff
        self.pools[pool_id].users[username].cutoff_ms = cutoff

    @rule(data=st.data(), enabled=st.booleans())
    def set_enabled(self, data: st.DataObject, enabled: bool) -> None:
        self._set_enabled(*self._someone(data), enabled)

    def _set_enabled(self, pool_id: str, username: str, enabled: bool) -> None:
        refused = self._user_refusal(pool_id, username)
        before_ms = self._server_ms()
        user = self._call(
            lambda r: store.update_user(r, pool_id, username, enabled=enabled), refused
        )
        if user is None:
            return
        after_ms = self._server_ms()
        assert user.enabled is enabled
        model = self.pools[pool_id].users[username]
        stored = self._signed_out_ms(user)
        if enabled:
            assert stored == model.cutoff_ms, "enabling must not move the cut-off"
        else:
            # Disabling revokes every token issued until now: a cut-off taken during the call.
            assert stored is not None and before_ms <= stored <= after_ms
            model.cutoff_ms = stored
        model.enabled = enabled

    @rule(data=st.data(), status=st.sampled_from(["CONFIRMED", "UNCONFIRMED", "RESET_REQUIRED"]))
    def set_status(self, data: st.DataObject, status: str) -> None:
        self._set_status(*self._someone(data), status)

    def _set_status(self, pool_id: str, username: str, status: str) -> None:
        refused = self._user_refusal(pool_id, username)
        user = self._call(lambda r: store.update_user(r, pool_id, username, status=status), refused)
        if user is not None:
            assert user.status == status
            self.pools[pool_id].users[username].status = status

    @precondition(lambda self: self.minted)
    @rule(data=st.data())
    def revoke_origin_jti(self, data: st.DataObject) -> None:
        self._revoke(data.draw(st.sampled_from(self.minted), label="token"))

    def _revoke(self, token: Minted) -> None:
        pool = self._live_pool(token.pool_id)
        user = pool.users.get(token.username) if pool else None
        if pool is None:
            refused: str | None = e.pool_not_found(token.pool_id)
        elif user is None or user.sub != token.sub:
            refused = e.USER_NOT_FOUND
        else:
            refused = None
        self._call(
            lambda r: store.revoke_origin_jti(
                r, token.pool_id, token.username, token.sub, token.origin_jti
            ),
            refused,
        )
        if user is not None and refused is None:
            user.revoked_ojti.add(token.origin_jti)

    # -- devices and tokens -----------------------------------------------------------------
    @rule(data=st.data())
    def add_device(self, data: st.DataObject) -> None:
        self._add_device(*self._someone(data))

    def _add_device(self, pool_id: str, username: str) -> str | None:
        refused = self._user_refusal(pool_id, username)

        async def add(r: aioredis.Redis) -> dict[str, str]:
            return await store.add_device(r, await store.get_user(r, pool_id, username))

        fields = self._call(add, refused)
        if fields is None:
            return None
        assert fields["remembered"] == "remembered"
        self.pools[pool_id].users[username].devices.add(fields["key"])
        self.device_keys.append(fields["key"])
        return fields["key"]

    @rule(
        data=st.data(),
        count=st.integers(1, 2),
        # None: the minter's own clock; otherwise iat = Redis now + this many seconds, so tokens
        # land before, in and after the second of a sign-out without any sleeping.
        iat_shift=st.one_of(st.none(), st.integers(-2, 2)),
    )
    def mint(self, data: st.DataObject, count: int, iat_shift: int | None) -> None:
        who = self._someone(data)
        for _ in range(count):
            self._mint(*who, iat_shift)

    def _mint(
        self, pool_id: str, username: str, iat_shift: int | None, *, iat: int | None = None
    ) -> Minted | None:
        refused = self._user_refusal(pool_id, username)

        async def mint(r: aioredis.Redis) -> str:
            minter = await store.token_minter(r, pool_id)
            user = await store.get_user(r, pool_id, username)
            if iat is not None:
                return minter(user, now=iat)
            if iat_shift is None:
                return minter(user)
            return minter(user, now=await store.server_ms(r) // 1000 + iat_shift)

        token = self._call(mint, refused)
        if token is None:
            return None
        _, claims = split_token(token)
        pool = self.pools[pool_id]
        assert claims["sub"] == pool.users[username].sub
        minted = Minted(
            token,
            pool_id,
            pool.incarnation,
            username,
            claims["sub"],
            claims["iat"],
            claims["origin_jti"],
        )
        self.minted.append(minted)
        return minted

    # -- GetDevice ----------------------------------------------------------------------------
    def expected(self, token: Minted, device_key: str) -> Expected:
        pool = self.pools.get(token.pool_id)
        if pool is None or pool.incarnation != token.incarnation:
            # The pool was recreated: its new key never signed this token.
            return ("NotAuthorizedException", e.INVALID_TOKEN)
        if not pool.live:
            return ("ResourceNotFoundException", e.pool_not_found(token.pool_id))
        if not pool.device_tracking:
            return ("InvalidUserPoolConfigurationException", e.DEVICE_TRACKING_OFF)
        user = pool.users.get(token.username)
        if user is None or user.sub != token.sub:
            return ("UserNotFoundException", e.USER_NOT_FOUND)
        # get_device.lua's rule: iat has whole seconds, so the cut-off's own second revokes too.
        if user.cutoff_ms is not None and token.iat * 1000 <= user.cutoff_ms:
            return ("NotAuthorizedException", e.REVOKED_TOKEN)
        if token.origin_jti in user.revoked_ojti:
            return ("NotAuthorizedException", e.REVOKED_TOKEN)
        if not user.enabled:
            return ("NotAuthorizedException", e.USER_DISABLED)
        if user.status == "UNCONFIRMED":
            return ("UserNotConfirmedException", e.USER_NOT_CONFIRMED)
        if user.status == "RESET_REQUIRED":
            return ("PasswordResetRequiredException", e.PASSWORD_RESET_REQUIRED)
        if device_key not in user.devices:
            return ("ResourceNotFoundException", e.DEVICE_NOT_FOUND)
        return ("OK", f"{token.username}.{token.pool_id}")

    @invariant()
    def recent_tokens_answer_as_modelled(self) -> None:
        """After every step, the newest tokens whose answer may still change are asked for
        their own user's newest device (or another device, in turn): every write's effect on
        them is seen at once, mostly through the claims cache."""
        self.steps += 1
        unsettled = [t for t in self.minted if not self._settled(t)]
        for i, token in enumerate(unsettled[-2:]):
            user = self.pools[token.pool_id].users.get(token.username)
            own = sorted(user.devices) if user is not None and user.sub == token.sub else []
            turn = self.steps + i
            if own and turn % 3:
                device_key = own[turn % len(own)]
            else:
                device_key = self.device_keys[turn % len(self.device_keys)]
            self.check_get_device(token, device_key, calls=1)

    def _settled(self, token: Minted) -> bool:
        # A token of a pool since recreated is refused for good (the old key never returns);
        # asking again costs the server a catch-up wait, so the invariant stops asking.
        return self.pools[token.pool_id].incarnation != token.incarnation

    # GetDevice is drawn twice as often as any admin write: two rules, one check.
    @precondition(lambda self: self.minted)
    @rule(data=st.data())
    def get_device(self, data: st.DataObject) -> None:
        for _ in range(data.draw(st.integers(1, 4), label="checks")):
            token = data.draw(st.sampled_from(self.minted), label="token")
            device_key = data.draw(st.sampled_from(self.device_keys), label="device")
            self.check_get_device(token, device_key)

    @precondition(lambda self: self.minted)
    @rule(data=st.data())
    def get_device_more(self, data: st.DataObject) -> None:
        self.get_device(data)

    def check_get_device(self, token: Minted, device_key: str, calls: int = 2) -> None:
        want = self.expected(token, device_key)
        for _ in range(calls):  # a second call is served from the claims cache
            answer = get_device(self.live.url, token.token, device_key)
            if want[0] != "OK":
                assert_cognito_error(answer, want[0], want[1], 400)
                continue
            assert answer.status == 200, (answer.status, answer.body, token, device_key)
            device = answer.json()["Device"]
            assert device["DeviceKey"] == device_key
            # A user's own calls show no owner: the device key (unique to its user) and the
            # exact attributes say whose device this is.
            attributes = {a["Name"]: a["Value"] for a in device["DeviceAttributes"]}
            assert set(attributes) <= {"device_status", "device_name", "last_ip_used"}
            assert attributes["device_status"] == "valid"


@pytest.fixture
def model_server(live_factory: Any) -> type[AdminModel]:
    server, helper = live_factory(**FAST_BUCKET)
    AdminModel.live = server
    AdminModel.admin = helper
    return AdminModel


@pytest.mark.slow
def test_admin_writes_against_the_model(model_server: type[AdminModel]) -> None:
    run_state_machine_as_test(model_server, settings=MODEL_RUNS)


def test_every_answer_of_the_table_in_one_scripted_run(model_server: type[AdminModel]) -> None:
    """The random runs above may or may not reach every row of the table in a given run; this
    one walks through each, asserting both the model's answer and the server's."""
    m = model_server()
    p = DEFAULT_POOL

    def expect(token: Minted | None, device: str | None, want: Expected) -> None:
        assert token is not None and device is not None
        assert m.expected(token, device) == want
        m.check_get_device(token, device)

    ok_alice = ("OK", f"alice.{p}")
    revoked = ("NotAuthorizedException", e.REVOKED_TOKEN)
    no_device = ("ResourceNotFoundException", e.DEVICE_NOT_FOUND)
    no_user = ("UserNotFoundException", e.USER_NOT_FOUND)
    try:
        m._create_user(p, "alice")
        alice_device = m._add_device(p, "alice")
        m._create_user(p, "bob")
        bob_device = m._add_device(p, "bob")
        early = m._mint(p, "alice", -1)
        expect(early, alice_device, ok_alice)
        expect(early, bob_device, no_device)  # another user's device
        expect(early, UNKNOWN_DEVICE, no_device)

        # Sign-out: tokens of the cut-off's second are revoked too, the next second's are not.
        m._sign_out(p, "alice")
        cutoff_s = (m.pools[p].users["alice"].cutoff_ms or 0) // 1000
        same_second = m._mint(p, "alice", None, iat=cutoff_s)
        next_second = m._mint(p, "alice", None, iat=cutoff_s + 1)
        expect(early, alice_device, revoked)
        expect(same_second, alice_device, revoked)
        expect(next_second, alice_device, ok_alice)

        # Disabling revokes what was issued until then, even once enabled again; a token issued
        # after it meets "User is disabled." until then.
        m._set_enabled(p, "alice", False)
        disabled_s = (m.pools[p].users["alice"].cutoff_ms or 0) // 1000
        in_disable_second = m._mint(p, "alice", None, iat=disabled_s)
        after_disable = m._mint(p, "alice", None, iat=disabled_s + 1)
        expect(in_disable_second, alice_device, revoked)
        expect(after_disable, alice_device, ("NotAuthorizedException", e.USER_DISABLED))
        m._set_enabled(p, "alice", True)
        expect(in_disable_second, alice_device, revoked)
        expect(after_disable, alice_device, ok_alice)
        assert after_disable is not None
        m._revoke(after_disable)  # RevokeToken: its origin_jti
        expect(after_disable, alice_device, revoked)

        # Statuses, then a user deleted and recreated under the same name (a new sub).
        bob_token = m._mint(p, "bob", None)
        m._set_status(p, "bob", "UNCONFIRMED")
        expect(bob_token, bob_device, ("UserNotConfirmedException", e.USER_NOT_CONFIRMED))
        m._set_status(p, "bob", "RESET_REQUIRED")
        expect(bob_token, bob_device, ("PasswordResetRequiredException", e.PASSWORD_RESET_REQUIRED))
        m._set_status(p, "bob", "CONFIRMED")
        expect(bob_token, bob_device, ("OK", f"bob.{p}"))
        m._delete_user(p, "bob")
        expect(bob_token, bob_device, no_user)
        m._create_user(p, "bob")
        new_bob_device = m._add_device(p, "bob")
        expect(bob_token, bob_device, no_user)
        expect(bob_token, new_bob_device, no_user)

        # The pool: device tracking off, deleted, recreated under the same id.
        fresh = m._mint(p, "bob", None)
        m.set_device_tracking(p, False)
        expect(
            fresh, new_bob_device, ("InvalidUserPoolConfigurationException", e.DEVICE_TRACKING_OFF)
        )
        m.set_device_tracking(p, True)
        expect(fresh, new_bob_device, ("OK", f"bob.{p}"))
        m._delete_pool(p)
        expect(fresh, new_bob_device, ("ResourceNotFoundException", e.pool_not_found(p)))
        m._create_pool(p, True)
        expect(fresh, new_bob_device, ("NotAuthorizedException", e.INVALID_TOKEN))
        m._create_user(p, "bob")
        newest_device = m._add_device(p, "bob")
        expect(fresh, newest_device, ("NotAuthorizedException", e.INVALID_TOKEN))
        expect(m._mint(p, "bob", None), newest_device, ("OK", f"bob.{p}"))
    finally:
        m.teardown()
