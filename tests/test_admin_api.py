"""The admin plane through boto3 against a live server, every call SigV4-signed for real."""

from __future__ import annotations

import urllib.request
from typing import Any

import botocore.session
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from service import store
from tests.conftest import Admin, LiveServer, client_error


def _pool(cognito: Any, **kw: Any) -> str:
    kw.setdefault("DeviceConfiguration", {"ChallengeRequiredOnNewDevice": False})
    return str(cognito.create_user_pool(PoolName="load-test", **kw)["UserPool"]["Id"])


def test_readme_walkthrough(cognito: Any, admin: Admin, live: LiveServer) -> None:
    pool = cognito.create_user_pool(
        PoolName="load-test",
        Policies={"PasswordPolicy": {"MinimumLength": 8, "RequireSymbols": False}},
        DeviceConfiguration={
            "ChallengeRequiredOnNewDevice": False,
            "DeviceOnlyRememberedOnUserPrompt": False,
        },
    )["UserPool"]
    pool_id = pool["Id"]
    assert pool_id.startswith("us-east-1_") and len(pool_id) == len("us-east-1_") + 9
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="bench",
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AccessTokenValidity=1,
    )["UserPoolClient"]
    assert len(client["ClientId"]) == 26 and client["ClientId"].islower()
    assert 51 <= len(client["ClientSecret"]) <= 52
    user = cognito.admin_create_user(
        UserPoolId=pool_id,
        Username="alice",
        TemporaryPassword="Temp0rary!",
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": "alice@example.com"}],
    )["User"]
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert [a["Name"] for a in user["Attributes"]] == ["sub", "email"]
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="alice", Password="Perm4nent!", Permanent=True
    )
    got = cognito.admin_get_user(UserPoolId=pool_id, Username="alice")
    assert got["UserStatus"] == "CONFIRMED" and got["Enabled"] is True
    raw = admin.redis.hgetall(
        next(iter(admin.redis.scan_iter(match=f"cgd:user:{{{pool_id}:*5:alice}}")))
    )
    assert b"srp_verifier" in raw and b"Perm4nent!" not in b"".join(raw.values())
    # A device as a sign-in would leave it, confirmed: then the admin view.
    stored_user = admin.run(lambda r: store.get_user(r, pool_id, "alice"))
    key = admin.add_device(stored_user, name="phone", remembered=False)
    devices = cognito.admin_list_devices(UserPoolId=pool_id, Username="alice")["Devices"]
    assert [d["DeviceKey"] for d in devices] == [key]
    names = {a["Name"]: a["Value"] for a in devices[0]["DeviceAttributes"]}
    assert names["dev:device_remembered_status"] == "not_remembered"
    assert names["dev:device_owner"] == f"alice.{pool_id}"
    assert names["dev:device_arn"].startswith("arn:aws:cognito-idp:us-east-1:000000000000:owner/")


def test_pools_clients_and_errors(cognito: Any) -> None:
    pool_id = _pool(cognito)
    described = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert described["Name"] == "load-test"
    assert described["Policies"]["PasswordPolicy"]["MinimumLength"] == 8
    ids = []
    token = None
    while True:
        kw: dict[str, str] = {"NextToken": token} if token else {}
        page = cognito.list_user_pools(MaxResults=1, **kw)
        ids += [p["Id"] for p in page["UserPools"]]
        token = page.get("NextToken")
        if not token:
            break
    assert pool_id in ids and "us-east-1_LocalPool" in ids and len(ids) == 2
    c = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="x")["UserPoolClient"]
    assert "ClientSecret" not in c
    listed = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=10)
    assert [x["ClientId"] for x in listed["UserPoolClients"]] == [c["ClientId"]]
    d = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=c["ClientId"])
    assert d["UserPoolClient"]["ExplicitAuthFlows"] == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_CUSTOM_AUTH",
    ]
    cognito.delete_user_pool_client(UserPoolId=pool_id, ClientId=c["ClientId"])
    with pytest.raises(ClientError) as info:
        cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=c["ClientId"])
    assert client_error(info) == (
        "ResourceNotFoundException",
        f"User pool client {c['ClientId']} does not exist.",
        400,
    )
    cognito.delete_user_pool(UserPoolId=pool_id)
    with pytest.raises(ClientError) as info:
        cognito.describe_user_pool(UserPoolId=pool_id)
    assert client_error(info) == (
        "ResourceNotFoundException",
        f"User pool {pool_id} does not exist.",
        400,
    )


def test_users_and_devices(cognito: Any, admin: Admin) -> None:
    pool_id = _pool(cognito)
    with pytest.raises(ClientError) as info:
        cognito.admin_create_user(UserPoolId=pool_id, Username="bob", TemporaryPassword="short")
    assert client_error(info) == (
        "InvalidPasswordException",
        "Password did not conform with policy: Password not long enough",
        400,
    )
    cognito.admin_create_user(UserPoolId=pool_id, Username="bob", MessageAction="SUPPRESS")
    with pytest.raises(ClientError) as info:
        cognito.admin_create_user(UserPoolId=pool_id, Username="bob")
    assert client_error(info) == ("UsernameExistsException", "User account already exists", 400)
    cognito.admin_disable_user(UserPoolId=pool_id, Username="bob")
    assert cognito.admin_get_user(UserPoolId=pool_id, Username="bob")["Enabled"] is False
    cognito.admin_enable_user(UserPoolId=pool_id, Username="bob")
    cognito.admin_user_global_sign_out(UserPoolId=pool_id, Username="bob")
    user = admin.run(lambda r: store.get_user(r, pool_id, "bob"))
    key = admin.add_device(user, name="phone")
    dev = cognito.admin_get_device(UserPoolId=pool_id, Username="bob", DeviceKey=key)["Device"]
    assert dev["DeviceKey"] == key
    cognito.admin_update_device_status(
        UserPoolId=pool_id, Username="bob", DeviceKey=key, DeviceRememberedStatus="not_remembered"
    )
    cognito.admin_forget_device(UserPoolId=pool_id, Username="bob", DeviceKey=key)
    with pytest.raises(ClientError) as info:
        cognito.admin_get_device(UserPoolId=pool_id, Username="bob", DeviceKey=key)
    assert client_error(info) == ("ResourceNotFoundException", "Device does not exist.", 400)
    cognito.admin_delete_user(UserPoolId=pool_id, Username="bob")
    with pytest.raises(ClientError) as info:
        cognito.admin_get_user(UserPoolId=pool_id, Username="bob")
    assert client_error(info) == ("UserNotFoundException", "User does not exist.", 400)


def test_the_models_errors_from_real_conditions(cognito: Any, admin: Admin) -> None:
    def code(call: Any, **kw: Any) -> tuple[str, str, int]:
        with pytest.raises(ClientError) as info:
            call(**kw)
        return client_error(info)

    gone = "us-east-1_NoSuchOne"
    assert code(cognito.admin_get_user, UserPoolId=gone, Username="x") == (
        "ResourceNotFoundException",
        f"User pool {gone} does not exist.",
        400,
    )
    assert code(cognito.admin_get_user, UserPoolId="bad id", Username="x")[0] == (
        "InvalidParameterException"
    )
    untracked = str(cognito.create_user_pool(PoolName="plain")["UserPool"]["Id"])
    cognito.admin_create_user(UserPoolId=untracked, Username="u", MessageAction="SUPPRESS")
    assert code(cognito.admin_list_devices, UserPoolId=untracked, Username="u") == (
        "InvalidUserPoolConfigurationException",
        "Device tracking is not enabled for this user pool.",
        400,
    )
    pool_id = _pool(cognito)
    for call, kw in (
        (cognito.admin_list_devices, {}),
        (cognito.admin_get_device, {"DeviceKey": "us-east-1_0a"}),
        (cognito.admin_forget_device, {"DeviceKey": "us-east-1_0a"}),
        (cognito.admin_user_global_sign_out, {}),
        (cognito.admin_disable_user, {}),
        (cognito.admin_enable_user, {}),
        (cognito.admin_delete_user, {}),
        (cognito.admin_set_user_password, {"Password": "Abcdef1!"}),
    ):
        assert code(call, UserPoolId=pool_id, Username="nobody", **kw)[0] == (
            "UserNotFoundException"
        ), call
    cognito.admin_create_user(
        UserPoolId=pool_id, Username="c", TemporaryPassword="Abcdef1!", MessageAction="SUPPRESS"
    )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="c", Password="Abcdef1!", Permanent=True
    )
    assert code(
        cognito.admin_create_user, UserPoolId=pool_id, Username="c", MessageAction="RESEND"
    ) == ("UnsupportedUserStateException", "User is already confirmed.", 400)
    for password, missing in (("abcdefg1!", "uppercase"), ("ABCDEFG1!", "lowercase"),
                              ("Abcdefgh!", "numeric"), ("Abcdefg12", "symbol")):  # fmt: skip
        assert (
            code(
                cognito.admin_set_user_password, UserPoolId=pool_id, Username="c", Password=password
            )[1]
            == f"Password did not conform with policy: Password must have {missing} characters"
        )
    assert code(
        cognito.admin_create_user,
        UserPoolId=pool_id,
        Username="d",
        UserAttributes=[{"Name": "shoe_size", "Value": "9"}],
    )[1] == (
        "Attributes did not conform to the schema: "
        "Type for attribute {shoe_size} could not be determined"
    )
    protected = str(
        cognito.create_user_pool(PoolName="kept", DeletionProtection="ACTIVE")["UserPool"]["Id"]
    )
    assert code(cognito.delete_user_pool, UserPoolId=protected)[0] == "InvalidParameterException"
    assert code(cognito.list_user_pools, MaxResults=5, NextToken="!!")[0] == (
        "InvalidParameterException"
    )
    assert code(
        cognito.admin_list_devices, UserPoolId=pool_id, Username="c", PaginationToken="forged.x"
    ) == ("InvalidParameterException", "Invalid pagination token.", 400)


def test_admin_calls_count_against_their_category(live_factory: Any) -> None:
    from tests.conftest import boto_client

    server, _ = live_factory(pool_rate_limit=True, category_rates={"UserPoolRead": 2.0})
    idp = boto_client(server.url)
    with pytest.raises(ClientError) as info:
        for _ in range(5):
            idp.describe_user_pool(UserPoolId="us-east-1_LocalPool")
    assert client_error(info) == ("TooManyRequestsException", "Too many requests", 400)


def _model_members(operation: str) -> set[str]:
    model = botocore.session.get_session().get_service_model("cognito-idp")
    return set(model.operation_model(operation).input_shape.members)


def test_kept_members_are_the_models() -> None:
    from service.ops.admin_client_body import CREATE_CLIENT, KEPT_MEMBERS
    from service.ops.admin_pools import POOL_MEMBERS

    assert _model_members("CreateUserPool") - {"PoolName"} == POOL_MEMBERS
    handled = {m.name for m in CREATE_CLIENT} | {"GenerateSecret", "ExplicitAuthFlows"}
    handled |= {"EnableTokenRevocation"}
    assert _model_members("CreateUserPoolClient") - handled == KEPT_MEMBERS
    assert _model_members("UpdateUserPoolClient") >= KEPT_MEMBERS


def _signed_call(url: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """A SigV4-signed call with a body boto3 would refuse to send (members the model does not
    list), as any other client may send it; signed by botocore's own signer."""
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=orjson.dumps(body),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AWSCognitoIdentityProviderService.{operation}",
        },
    )
    SigV4Auth(Credentials("test", "test"), "cognito-idp", "us-east-1").add_auth(request)
    sent = urllib.request.Request(
        url + "/", data=request.body, headers=dict(request.headers), method="POST"
    )
    with urllib.request.urlopen(sent, timeout=10) as resp:
        return dict(orjson.loads(resp.read()))


def test_members_the_model_does_not_list_never_reach_a_record(cognito: Any) -> None:
    url = cognito.meta.endpoint_url
    body: dict[str, Any] = {"PoolName": "x", "Id": "us-east-1_NotThisPool", "Arn": "a"}
    pool = _signed_call(url, "CreateUserPool", body)["UserPool"]
    pool_id = pool["Id"]
    assert pool_id != "us-east-1_NotThisPool" and pool["Arn"] != "a"
    described = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert described["Id"] == pool_id and described["Arn"].endswith(pool_id)
    body = {"UserPoolId": pool_id, "ClientName": "c", "ClientId": "injected", "Extra": 1}
    client = _signed_call(url, "CreateUserPoolClient", body)["UserPoolClient"]
    assert client["ClientId"] != "injected" and "Extra" not in client
    shown = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client["ClientId"])
    assert shown["UserPoolClient"]["ClientId"] == client["ClientId"]
    assert "Extra" not in shown["UserPoolClient"]
