"""The API operations this service serves, by name.

An access-token operation is a TokenOperation (its shape, its script and its answer); the
shared session step (service/sessions/session.py) does the rest. Adding one: its class in the module
of its kind, its script in service/redis_io/scripts, and its line below (plus its quota in
quotas.py).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from ..credentials.pools import PoolRegistry
from ..redis_io.connect import Transport
from ..runtime.settings import Settings
from ..sessions.session import TokenOperation, TokenStep
from .admin_clients import ClientOps
from .admin_pools import PoolOps
from .admin_users import UserOps
from .auth import (
    AdminInitiateAuth,
    AdminRespondToAuthChallenge,
    GetTokensFromRefreshToken,
    InitiateAuth,
    RespondToAuthChallenge,
    SignIn,
)
from .devices import ConfirmDevice, ForgetDevice, GetDevice, ListDevices, UpdateDeviceStatus
from .sign_out import GlobalSignOut, RevokeToken

Operation = Callable[[dict[str, Any]], Awaitable[bytes]]


def operations(
    settings: Settings,
    registry: PoolRegistry,
    pipe: Transport,
    admin: aioredis.Redis | None = None,
) -> dict[str, Operation]:
    """Every served operation, bound to this worker's step (no per-request lookups). The admin
    operations (SigV4-signed; dispatch checks the signature) run over `admin`, redis-py."""
    step = TokenStep(settings, registry, pipe)
    token_ops: list[TokenOperation] = [
        GetDevice(),
        ListDevices(),
        UpdateDeviceStatus(),
        ForgetDevice(),
        ConfirmDevice(),
        GlobalSignOut(),
    ]
    served: dict[str, Operation] = {
        op.name: functools.partial(step.run, op, step.head(op)) for op in token_ops
    }
    served["RevokeToken"] = RevokeToken(settings, registry, pipe)
    # Sign-in. AdminInitiateAuth and AdminRespondToAuthChallenge are served on the admin plane.
    signin = SignIn(settings, registry, pipe)
    served["InitiateAuth"] = InitiateAuth(signin)
    served["RespondToAuthChallenge"] = RespondToAuthChallenge(signin)
    served["GetTokensFromRefreshToken"] = GetTokensFromRefreshToken(signin)
    # SigV4-signed (service/http/api.py checks the signature before these run).
    served["AdminInitiateAuth"] = AdminInitiateAuth(signin)
    served["AdminRespondToAuthChallenge"] = AdminRespondToAuthChallenge(signin)
    pools = PoolOps(settings, admin, pipe)
    clients = ClientOps(settings, admin, pipe)
    users = UserOps(settings, admin, pipe)
    served.update(
        CreateUserPool=pools.create_user_pool,
        DescribeUserPool=pools.describe_user_pool,
        ListUserPools=pools.list_user_pools,
        DeleteUserPool=pools.delete_user_pool,
        CreateUserPoolClient=clients.create_user_pool_client,
        UpdateUserPoolClient=clients.update_user_pool_client,
        DescribeUserPoolClient=clients.describe_user_pool_client,
        ListUserPoolClients=clients.list_user_pool_clients,
        DeleteUserPoolClient=clients.delete_user_pool_client,
        AdminCreateUser=users.admin_create_user,
        AdminGetUser=users.admin_get_user,
        AdminDeleteUser=users.admin_delete_user,
        AdminDisableUser=users.admin_disable_user,
        AdminEnableUser=users.admin_enable_user,
        AdminSetUserPassword=users.admin_set_user_password,
        AdminUserGlobalSignOut=users.admin_user_global_sign_out,
        AdminGetDevice=users.admin_get_device,
        AdminListDevices=users.admin_list_devices,
        AdminUpdateDeviceStatus=users.admin_update_device_status,
        AdminForgetDevice=users.admin_forget_device,
    )
    return served
