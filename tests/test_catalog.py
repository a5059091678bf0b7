"""service.model.catalog.COGNITO_OPERATIONS is the installed botocore model's list of operations."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import botocore

from service.model.catalog import COGNITO_OPERATIONS
from tests.conftest import make_settings


def _model_operations() -> set[str]:
    data = Path(botocore.__file__).parent / "data" / "cognito-idp"
    path = sorted(data.glob("*/service-2.json.gz"))[-1]
    return set(json.loads(gzip.decompress(path.read_bytes()))["operations"])


def test_catalog_is_the_botocore_models_operations() -> None:
    model = _model_operations()
    assert sorted(COGNITO_OPERATIONS - model) == [], "in the catalog but not in the model"
    assert sorted(model - COGNITO_OPERATIONS) == [], "in the model but not in the catalog"
    assert isinstance(COGNITO_OPERATIONS, frozenset)


def test_catalog_holds_the_device_operations() -> None:
    devices = {
        "GetDevice",
        "ListDevices",
        "ForgetDevice",
        "ConfirmDevice",
        "UpdateDeviceStatus",
        "AdminGetDevice",
        "AdminListDevices",
        "AdminForgetDevice",
        "AdminUpdateDeviceStatus",
    }
    assert devices <= COGNITO_OPERATIONS


def test_every_served_operation_is_a_cognito_operation(redis_url: str) -> None:
    from service.credentials.pools import PoolRegistry
    from service.ops import operations

    served = operations(make_settings(redis_url), PoolRegistry(), None)  # type: ignore[arg-type]
    admin = {
        "CreateUserPool", "DescribeUserPool", "ListUserPools", "DeleteUserPool",
        "CreateUserPoolClient", "DescribeUserPoolClient", "ListUserPoolClients",
        "DeleteUserPoolClient", "UpdateUserPoolClient", "AdminCreateUser", "AdminGetUser",
        "AdminDeleteUser", "AdminDisableUser", "AdminEnableUser", "AdminSetUserPassword",
        "AdminUserGlobalSignOut",
        "AdminGetDevice", "AdminListDevices", "AdminUpdateDeviceStatus", "AdminForgetDevice",
        "AdminInitiateAuth", "AdminRespondToAuthChallenge",
    }  # fmt: skip
    assert set(served) - admin == {
        "GetDevice",
        "ListDevices",
        "UpdateDeviceStatus",
        "ForgetDevice",
        "ConfirmDevice",
        "GlobalSignOut",
        "RevokeToken",
        "InitiateAuth",
        "RespondToAuthChallenge",
        "GetTokensFromRefreshToken",
    }
    assert set(served) <= COGNITO_OPERATIONS
    # Every served operation has its quota category (service/model/quotas.py).
    from service.model.quotas import CATEGORY_RPS, OPERATIONS

    assert set(served) <= set(OPERATIONS)
    assert {q.category for q in OPERATIONS.values()} <= set(CATEGORY_RPS)


def test_signed_operations_are_the_models() -> None:
    """SIGNED_OPERATIONS is every operation the model does not mark `authtype: none`."""
    from service.model.catalog import SIGNED_OPERATIONS, UNSIGNED_OPERATIONS

    data = Path(botocore.__file__).parent / "data" / "cognito-idp"
    path = sorted(data.glob("*/service-2.json.gz"))[-1]
    ops = json.loads(gzip.decompress(path.read_bytes()))["operations"]
    assert {n for n, o in ops.items() if o.get("authtype") == "none"} == UNSIGNED_OPERATIONS
    assert {n for n, o in ops.items() if o.get("authtype") != "none"} == SIGNED_OPERATIONS
    assert "AdminGetDevice" in SIGNED_OPERATIONS and "GetDevice" not in SIGNED_OPERATIONS
