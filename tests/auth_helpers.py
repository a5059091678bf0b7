"""Helpers for the sign-in tests: pools with app clients of chosen flows and secrets, passwords."""

from __future__ import annotations

from typing import Any

import orjson

from service import store
from service.redis_io import keys
from tests.conftest import Admin

PASSWORD = "Corr3ct-Horse!"
# An app client allowing every password and SRP flow, and refresh.
ALL_FLOWS = [
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
]


def default_client(admin: Admin) -> str:
    """The default pool's generated app client (every sign-in flow allowed)."""
    raw = admin.redis.hget(keys.pool(admin.settings.default_pool_id), "clients")
    item = orjson.loads(raw)[0]
    return str(item["id"] if isinstance(item, dict) else item)


def set_clients(admin: Admin, clients: list[dict[str, Any]], pool_id: str | None = None) -> None:
    """Replace a pool's app clients (as the admin plane's CreateUserPoolClient would)."""
    pool = pool_id or admin.settings.default_pool_id
    admin.redis.hset(keys.pool(pool), "clients", orjson.dumps(clients))
    admin.redis.set(keys.POOLS_VERSION, orjson.dumps(clients).hex()[:32])
    admin.wait_pools()


def user_with_password(
    admin: Admin, username: str = "alice", password: str = PASSWORD, **kw: Any
) -> store.User:
    pool = admin.settings.default_pool_id
    admin.create_user(username)
    return admin.run(lambda r: store.set_password(r, pool, username, password, **kw))  # type: ignore[no-any-return]
