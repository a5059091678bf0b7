"""User pools, as an SDK-driven set-up makes them: CreateUserPool, DescribeUserPool,
ListUserPools, DeleteUserPool.

A pool made here is the same record the CLI makes (service/store/pools.py), with its name and every
other CreateUserPool member kept as given (`config`, JSON); its app clients
(service/ops/admin_clients.py) are service/model/clients.py's AppClient, in the record's `clients`
list. The pagination token helpers here serve both modules' List operations.
"""

from __future__ import annotations

import binascii
from typing import Any

import orjson

from .. import store
from ..credentials import passwords
from ..model import b64url
from ..model import errors as e
from ..model.validation import IntMember, StringMember, StructMember
from .admin import POOL_ID, AdminContext, bool_member, date, dumps

POOL_NAME = StringMember(
    "PoolName", required=True, min_len=1, max_len=128, pattern=r"[\w\s+=,.@-]+"
)
PASSWORD_POLICY = StructMember(
    "PasswordPolicy",
    (
        IntMember("MinimumLength", min_value=6, max_value=99),
        IntMember("PasswordHistorySize", min_value=0, max_value=24),
        IntMember("TemporaryPasswordValidityDays", min_value=0, max_value=365),
    ),
)
CREATE_POOL = (
    POOL_NAME,
    StructMember("Policies", (PASSWORD_POLICY,)),
    StructMember("DeviceConfiguration", ()),
    StringMember("DeletionProtection", enum=("ACTIVE", "INACTIVE")),
    StringMember("MfaConfiguration", enum=("OFF", "ON", "OPTIONAL")),
    StringMember("UserPoolTier", enum=("LITE", "ESSENTIALS", "PLUS")),
)


# CreateUserPool's members in the model, besides PoolName: each is kept as given (DescribeUserPool
# gives it back), and a member the model does not list (an injected Id, say) is dropped, from the
# request and from records written before this filter. tests/test_admin_model.py checks it.
POOL_MEMBERS = frozenset(
    {
        "Policies", "DeletionProtection", "LambdaConfig", "AutoVerifiedAttributes",
        "AliasAttributes", "UsernameAttributes", "SmsVerificationMessage",
        "EmailVerificationMessage", "EmailVerificationSubject", "VerificationMessageTemplate",
        "SmsAuthenticationMessage", "MfaConfiguration", "UserAttributeUpdateSettings",
        "DeviceConfiguration", "EmailConfiguration", "SmsConfiguration", "UserPoolTags",
        "AdminCreateUserConfig", "Schema", "UserPoolAddOns", "DcrConfiguration",
        "UsernameConfiguration", "AccountRecoverySetting", "UserPoolTier", "KeyConfiguration",
        "IssuerConfiguration", "AcrConfiguration",
    }
)  # fmt: skip


def _page(token: str | None) -> str:
    """The key after which a page starts ("" for the first page)."""
    if token is None:
        return ""
    try:
        after = b64url.decode(token, strict=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        after = ""
    if not after:
        raise e.InvalidParameterException("Invalid pagination token.")
    return after


def _token(after: str) -> str:
    return b64url.encode(after.encode())


def pool_config(record: dict[str, str]) -> dict[str, Any]:
    raw = record.get("config")
    return dict(orjson.loads(raw)) if raw else {}


def password_policy(record: dict[str, str]) -> dict[str, Any]:
    """The pool's PasswordPolicy as DescribeUserPool shows it (the default one if none)."""
    given = (pool_config(record).get("Policies") or {}).get("PasswordPolicy")
    if given is None:
        return dict(passwords.DEFAULT_POLICY)
    policy: dict[str, Any] = {"MinimumLength": given.get("MinimumLength", 8)}
    for name in ("RequireUppercase", "RequireLowercase", "RequireNumbers", "RequireSymbols"):
        policy[name] = bool(given.get(name, False))
    policy["TemporaryPasswordValidityDays"] = given.get("TemporaryPasswordValidityDays", 7)
    if "PasswordHistorySize" in given:
        policy["PasswordHistorySize"] = given["PasswordHistorySize"]
    return policy


def pool_view(record: dict[str, str], account_id: str) -> dict[str, Any]:
    """UserPoolType for a pool record."""
    pool_id = record["id"]
    region = record.get("region") or pool_id.split("_", 1)[0]
    config = pool_config(record)
    view: dict[str, Any] = {
        "Id": pool_id,
        "Name": record.get("name") or pool_id,
        "Policies": {
            "PasswordPolicy": password_policy(record),
            "SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD"]},
        },
        "DeletionProtection": "INACTIVE",
        "LambdaConfig": {},
        "LastModifiedDate": date(record.get("modified_ms") or record.get("created_ms")),
        "CreationDate": date(record.get("created_ms")),
        "MfaConfiguration": "OFF",
        "EstimatedNumberOfUsers": 0,
        "AdminCreateUserConfig": {
            "AllowAdminCreateUserOnly": False,
            "UnusedAccountValidityDays": 7,
        },
        "Arn": f"arn:aws:cognito-idp:{region}:{account_id}:userpool/{pool_id}",
        "UserPoolTier": "ESSENTIALS",
    }
    for name, value in config.items():
        if name in POOL_MEMBERS and name != "Policies":
            view[name] = value
    if record.get("device_tracking", "1") == "1":
        view["DeviceConfiguration"] = {
            "ChallengeRequiredOnNewDevice": record.get("device_challenge") == "1",
            "DeviceOnlyRememberedOnUserPrompt": record.get("device_remember_on_prompt") == "1",
        }
    else:
        view.pop("DeviceConfiguration", None)
    return view


class PoolOps(AdminContext):
    """The pool operations."""

    async def create_user_pool(self, body: dict[str, Any]) -> bytes:
        values = self.validate(body, CREATE_POOL)
        devices = values["DeviceConfiguration"]
        challenge = bool_member(
            body.get("DeviceConfiguration") or {}, "ChallengeRequiredOnNewDevice"
        )
        prompt = bool_member(
            body.get("DeviceConfiguration") or {}, "DeviceOnlyRememberedOnUserPrompt"
        )
        await self.quota("CreateUserPool")
        config = {k: v for k, v in body.items() if k in POOL_MEMBERS}
        record = await store.create_pool(
            self.r,
            self.settings,
            store.new_pool_id(self.settings.region),
            device_tracking=devices is not None,
            challenge_on_new_device=bool(challenge),
            remember_on_prompt=bool(prompt),
            name=values["PoolName"],
            config=config,
            app_clients=[],
        )
        return dumps({"UserPool": pool_view(record, self.settings.account_id)})

    async def describe_user_pool(self, body: dict[str, Any]) -> bytes:
        pool_id = self.validate(body, (POOL_ID,))["UserPoolId"]
        await self.quota("DescribeUserPool", pool_id)
        record = await self.pool(pool_id)
        return dumps({"UserPool": pool_view(record, self.settings.account_id)})

    async def list_user_pools(self, body: dict[str, Any]) -> bytes:
        values = self.validate(
            body,
            (
                IntMember("MaxResults", required=True, min_value=1, max_value=60),
                StringMember("NextToken", min_len=1, pattern=r"[\S]+"),
            ),
        )
        after = _page(values["NextToken"])
        await self.quota("ListUserPools")
        records = sorted(
            await store.live_pools(self.r),
            key=lambda rec: (int(rec.get("created_ms") or 0), rec["id"]),
        )
        ordered = [(f"{int(rec.get('created_ms') or 0):016d}:{rec['id']}", rec) for rec in records]
        page = [(k, rec) for k, rec in ordered if k > after][: values["MaxResults"]]
        answer: dict[str, Any] = {
            "UserPools": [
                {
                    "Id": rec["id"],
                    "Name": rec.get("name") or rec["id"],
                    "LambdaConfig": {},
                    "LastModifiedDate": date(rec.get("modified_ms") or rec.get("created_ms")),
                    "CreationDate": date(rec.get("created_ms")),
                }
                for _, rec in page
            ]
        }
        if page and page[-1][0] != ordered[-1][0]:
            answer["NextToken"] = _token(page[-1][0])
        return dumps(answer)

    async def delete_user_pool(self, body: dict[str, Any]) -> bytes:
        pool_id = self.validate(body, (POOL_ID,))["UserPoolId"]
        await self.quota("DeleteUserPool", pool_id)
        record = await self.pool(pool_id)
        if pool_config(record).get("DeletionProtection") == "ACTIVE":
            raise e.InvalidParameterException(
                "The user pool cannot be deleted because deletion protection is activated. "
                "Deletion protection must be inactivated first."
            )
        try:
            await store.delete_pool(self.r, pool_id)
        except store.StoreError:
            raise e.ResourceNotFoundException(e.pool_not_found(pool_id)) from None
        return b"{}"
