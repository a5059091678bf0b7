"""The bounded memo behind the route cache and the answer memos, and the route cache's
per-user part."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from service.credentials.pool import Pool
from service.credentials.pools import PoolRegistry
from service.sessions.cache import BoundedCache
from service.sessions.routes import Route, RouteCache
from tests.helpers_tokens import issue, new_jose_keys


def test_a_full_cache_drops_its_oldest_entries_a_batch_at_a_time() -> None:
    cache: BoundedCache[int, int] = BoundedCache(32)
    for key in range(32):
        cache.put(key, key)
    cache.put(0, 100)  # a key already held replaces its value and evicts nothing
    assert len(cache) == 32 and cache[0] == 100
    cache.put_new(32, 32)
    # limit // 16 = 2 of the oldest went, the new one came.
    assert sorted(cache) == list(range(2, 33))
    for key in range(33, 200):
        cache.put_new(key, key)
        assert len(cache) <= 32
    assert 199 in cache and 0 not in cache


def _registry(name: str) -> tuple[PoolRegistry, Pool, Any]:
    public, private = new_jose_keys()
    pool = Pool(
        id=f"eu-west-1_{name}",
        issuer=f"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_{name}",
        region="eu-west-1",
        clients=frozenset({"client-1"}),
        keys={"kid-1": public},
    )
    registry = PoolRegistry()
    registry.replace([pool])
    return registry, pool, private


def test_a_users_tokens_share_the_users_keys_and_hints_go_when_the_pools_change() -> None:
    registry, pool, private = _registry("Cache")
    routes = RouteCache(registry, 16)
    first, second, bob = (issue(pool, "kid-1", private, n) for n in ("alice", "alice", "bob"))
    hint = routes.locate(first)
    assert hint is not None and hint[:2] == (pool, "alice")
    assert routes.locate(second) is hint  # the same hint: the user's keys are shared
    bob_hint = routes.locate(bob)
    assert bob_hint is not None and bob_hint[2][0].base != hint[2][0].base
    one, two = (Route(pool, "alice", t, 0, hint[2]) for t in (first, second))
    assert one.user_keys is two.user_keys and one.claims_key != two.claims_key
    # The same keys as a route built without the hint.
    assert Route(pool, "alice", first, 0).session_keys == one.session_keys
    assert routes.locate("not.a token") is None
    routes.put_new(first, one)
    # The same pool id in another generation (recreated): other keys, and nothing kept.
    reborn = dataclasses.replace(pool, gen="another-generation")
    registry.replace([reborn])
    assert not routes and not routes.hints
    again = routes.locate(second)
    assert again is not None and again[0] is reborn
    assert again[2][0].base != hint[2][0].base


def test_a_full_route_cache_takes_only_a_share_of_new_routes() -> None:
    registry, pool, _ = _registry("Admit")
    routes = RouteCache(registry, 64)
    route = Route(pool, "alice", "token", 0)
    for n in range(60):
        routes.offer(f"token-{n}", route)
    # Every route is taken until the cache is within one eviction batch (64 // 16) of full.
    assert len(routes) == 60
    random.seed(5)
    taken = 0
    for n in range(60, 60 + 4000):
        routes.offer(f"token-{n}", route)
        taken += f"token-{n}" in routes
    assert len(routes) <= 64
    assert 0.2 < taken / 4000 < 0.3, taken  # ADMIT_WHEN_FULL, 0.25
