"""The API operations this service serves, by name.

An access-token operation is a TokenOperation (its shape, its script and its answer); the
shared session step (service/session.py) does the rest. Adding one: its class in the module of
its kind, its script in service/scripts, and its line below (plus its quota in quotas.py).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from ..connect import Transport
from ..pools import PoolRegistry
from ..session import TokenOperation, TokenStep
from ..settings import Settings
from .auth import InitiateAuth, RespondToAuthChallenge, SignIn
from .devices import ConfirmDevice, ForgetDevice, GetDevice, ListDevices, UpdateDeviceStatus
from .sign_out import GlobalSignOut, RevokeToken

Operation = Callable[[dict[str, Any]], Awaitable[bytes]]


def operations(settings: Settings, registry: PoolRegistry, pipe: Transport) -> dict[str, Operation]:
    """Every served operation, bound to this worker's step (no per-request lookups)."""
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
    # Sign-in. AdminInitiateAuth and AdminRespondToAuthChallenge (ops/auth.py) wait for SigV4.
    signin = SignIn(settings, registry, pipe)
    served["InitiateAuth"] = InitiateAuth(signin)
    served["RespondToAuthChallenge"] = RespondToAuthChallenge(signin)
    return served
