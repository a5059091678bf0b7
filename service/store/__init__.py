"""Admin reads and writes of pools, users and devices (redis-py; never on the hot path).

One module per concept; callers keep using `from service import store` and `store.<name>`:
- `_common`: StoreError, InvalidInput, Redis's clock (server_ms), and running an admin script.
- `pools`: pools (create with key pairs, read, update, delete, sweep, list, swap app clients).
- `users`: User, and users (create, read, update, delete, sign out, revoke, passwords).
- `devices`: a user's devices (register, the admin device operations, list).
- `minting`: tokens minted with a pool's own keys (access tokens, refresh tokens).
- `ids`: random pool ids and app client ids and secrets, in Cognito's shapes.
- `credentials`: the admin plane's SigV4 credentials kept in Redis.
"""

from __future__ import annotations

from ._common import InvalidInput, StoreError, server_ms
from .credentials import ensure_admin_credentials
from .devices import add_device, admin_device, device_keys, user_devices
from .ids import new_client_id, new_client_secret, new_pool_id
from .minting import _private_key as _private_key
from .minting import mint_refresh, signing_key, token_minter
from .pools import (
    GENERATED_CLIENT_FLOWS,
    SWEEP_PAGE,
    create_pool,
    delete_pool,
    ensure_default_pool,
    live_pools,
    pool_record,
    swap_clients,
    sweep_claims,
    sweep_pool,
    update_pool,
)
from .users import (
    USER_STATUSES,
    User,
    create_user,
    delete_user,
    get_user,
    revoke_origin_jti,
    set_password,
    set_user_fields,
    sign_out_user,
    update_user,
    user_record,
)

__all__ = [
    "GENERATED_CLIENT_FLOWS",
    "SWEEP_PAGE",
    "USER_STATUSES",
    "InvalidInput",
    "StoreError",
    "User",
    "add_device",
    "admin_device",
    "create_pool",
    "create_user",
    "delete_pool",
    "delete_user",
    "device_keys",
    "ensure_admin_credentials",
    "ensure_default_pool",
    "get_user",
    "live_pools",
    "mint_refresh",
    "new_client_id",
    "new_client_secret",
    "new_pool_id",
    "pool_record",
    "revoke_origin_jti",
    "server_ms",
    "set_password",
    "set_user_fields",
    "sign_out_user",
    "signing_key",
    "swap_clients",
    "sweep_claims",
    "sweep_pool",
    "token_minter",
    "update_pool",
    "update_user",
    "user_devices",
    "user_record",
]
