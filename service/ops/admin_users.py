"""Users and their devices, by pool id and username: AdminCreateUser, AdminGetUser,
AdminDeleteUser, AdminDisableUser, AdminEnableUser, AdminSetUserPassword,
AdminUserGlobalSignOut, AdminGetDevice, AdminListDevices, AdminUpdateDeviceStatus,
AdminForgetDevice.

Passwords are never stored: only their SRP salt and verifier (service/credentials/passwords.py). The
admin device calls see every confirmed device, remembered or not, with the `dev:*` attributes
(shared/REFERENCE.md, "Device objects").
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

import orjson

from .. import store
from ..credentials import passwords
from ..model import errors as e
from ..model import page_tokens
from ..model.devices import device_from_hash
from ..model.validation import IntMember, StringMember
from .admin import POOL_ID, USERNAME, AdminContext, bool_member, date, dumps, refusals
from .admin_pools import password_policy, pool_config

PASSWORD = StringMember("Password", required=True, max_len=256, pattern=r"[\S]+", sensitive=True)
TEMPORARY_PASSWORD = StringMember(
    "TemporaryPassword", max_len=256, pattern=r"[\S]+", sensitive=True
)
DEVICE_KEY = StringMember(
    "DeviceKey", required=True, min_len=1, max_len=55, pattern=r"[\w-]+_[0-9a-f-]+"
)
USER = (POOL_ID, USERNAME)
# The standard attributes every pool has (OIDC's, as the developer guide lists them); a
# `custom:` one must be in the pool's Schema.
STANDARD_ATTRIBUTES = frozenset(
    {
        "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
        "profile", "picture", "website", "email", "email_verified", "gender", "birthdate",
        "zoneinfo", "locale", "phone_number", "phone_number_verified", "address", "updated_at",
    }
)  # fmt: skip
_ATTRIBUTE_NAME = re.compile(r".{1,32}", re.DOTALL)
DEFAULT_PAGE = 60


def _attributes(value: Any, config: dict[str, Any]) -> list[tuple[str, str]]:
    """UserAttributes as (name, value) pairs, checked against the pool's attributes."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise e.SerializationException("Start of structure or map found where not expected.")
    custom = {f"custom:{a.get('Name')}" for a in config.get("Schema") or [] if isinstance(a, dict)}
    pairs = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise e.InvalidParameterException(
                "1 validation error detected: Value null at 'userAttributes.member.name' failed "
                "to satisfy constraint: Member must not be null"
            )
        name, val = item["Name"], item.get("Value", "")
        if not isinstance(val, str):
            raise e.SerializationException("Expected a string value for Value")
        if not _ATTRIBUTE_NAME.fullmatch(name) or any(
            unicodedata.category(ch)[0] not in "LMSNP" for ch in name
        ):
            raise e.InvalidParameterException(
                f"1 validation error detected: Value '{name}' at 'userAttributes.member.name' "
                "failed to satisfy constraint: Member must satisfy regular expression pattern: "
                r"[\p{L}\p{M}\p{S}\p{N}\p{P}]+"
            )
        if name == "sub":
            raise e.InvalidParameterException(
                "Attributes did not conform to the schema: sub: Attribute cannot be updated. "
                "(changing an immutable attribute)"
            )
        if name not in STANDARD_ATTRIBUTES and name not in custom:
            raise e.InvalidParameterException(
                "Attributes did not conform to the schema: Type for attribute {"
                + name
                + "} could not be determined"
            )
        pairs.append((name, val))
    return pairs


def user_view(username: str, fields: dict[str, str], *, attributes_key: str) -> dict[str, Any]:
    """UserType (AdminCreateUser: `Attributes`) or AdminGetUser's answer (`UserAttributes`)."""
    stored = orjson.loads(fields["attributes"]) if fields.get("attributes") else {}
    stored.pop("sub", None)
    attributes = [{"Name": "sub", "Value": fields["sub"]}]
    attributes += [{"Name": n, "Value": v} for n, v in stored.items()]
    return {
        "Username": username,
        attributes_key: attributes,
        "UserCreateDate": date(fields.get("created_ms")),
        "UserLastModifiedDate": date(fields.get("modified_ms") or fields.get("created_ms")),
        "Enabled": fields.get("enabled") == "1",
        "UserStatus": fields.get("status", ""),
    }


class UserOps(AdminContext):
    """The user and admin-device operations."""

    async def admin_create_user(self, body: dict[str, Any]) -> bytes:
        values = self.validate(
            body,
            (
                POOL_ID,
                USERNAME,
                TEMPORARY_PASSWORD,
                StringMember("MessageAction", enum=("RESEND", "SUPPRESS")),
            ),
        )
        bool_member(body, "ForceAliasCreation")
        pool_id, username = values["UserPoolId"], values["Username"]
        await self.quota("AdminCreateUser", pool_id)
        record = await self.pool(pool_id)
        attributes = _attributes(body.get("UserAttributes"), pool_config(record))
        if values["MessageAction"] == "RESEND":
            # Sends the invitation again (no message leaves this service): the user must exist,
            # and still be waiting for their first sign-in.
            _, fields = await self.user(pool_id, username)
            if fields.get("status") != "FORCE_CHANGE_PASSWORD":
                raise e.UnsupportedUserStateException("User is already confirmed.")
            return dumps({"User": user_view(username, fields, attributes_key="Attributes")})
        password = values["TemporaryPassword"]
        if password is not None:
            passwords.check_policy(password, password_policy(record))
        sub = str(uuid.uuid4())
        stored = {"sub": sub, **dict(attributes)}
        extra = {"attributes": orjson.dumps(stored).decode()}
        if password is not None:
            extra.update(passwords.stored_fields(pool_id, username, password))
        with refusals():
            await store.create_user(
                self.r, pool_id, username, status="FORCE_CHANGE_PASSWORD", sub=sub, extra=extra
            )
        _, fields = await self.user(pool_id, username)
        return dumps({"User": user_view(username, fields, attributes_key="Attributes")})

    async def admin_get_user(self, body: dict[str, Any]) -> bytes:
        pool_id, username = await self._user_call("AdminGetUser", body)
        _, fields = await self.user(pool_id, username)
        return dumps(user_view(username, fields, attributes_key="UserAttributes"))

    async def admin_delete_user(self, body: dict[str, Any]) -> bytes:
        pool_id, username = await self._user_call("AdminDeleteUser", body)
        with refusals():
            await store.delete_user(self.r, pool_id, username)
        return b"{}"

    async def admin_disable_user(self, body: dict[str, Any]) -> bytes:
        # "revokes all access tokens for the user" (the model): disabling signs them out.
        pool_id, username = await self._user_call("AdminDisableUser", body)
        with refusals():
            await store.update_user(self.r, pool_id, username, enabled=False)
        return b"{}"

    async def admin_enable_user(self, body: dict[str, Any]) -> bytes:
        pool_id, username = await self._user_call("AdminEnableUser", body)
        with refusals():
            await store.update_user(self.r, pool_id, username, enabled=True)
        return b"{}"

    async def admin_user_global_sign_out(self, body: dict[str, Any]) -> bytes:
        pool_id, username = await self._user_call("AdminUserGlobalSignOut", body)
        with refusals():
            await store.sign_out_user(self.r, pool_id, username)
        return b"{}"

    async def admin_set_user_password(self, body: dict[str, Any]) -> bytes:
        values = self.validate(body, (POOL_ID, USERNAME, PASSWORD))
        permanent = bool_member(body, "Permanent")
        pool_id, username = values["UserPoolId"], values["Username"]
        await self.quota("AdminSetUserPassword", pool_id)
        record = await self.pool(pool_id)
        user, _ = await self.user(pool_id, username)
        passwords.check_policy(values["Password"], password_policy(record))
        fields = passwords.stored_fields(pool_id, username, values["Password"])
        fields["status"] = "CONFIRMED" if permanent else "FORCE_CHANGE_PASSWORD"
        with refusals():
            await store.set_user_fields(self.r, user, fields)
        return b"{}"

    async def _user_call(self, operation: str, body: dict[str, Any]) -> tuple[str, str]:
        values = self.validate(body, USER)
        pool_id = values["UserPoolId"]
        await self.quota(operation, pool_id)
        await self.pool(pool_id)
        return pool_id, values["Username"]

    # -- devices ---------------------------------------------------------------------------
    async def _device_user(
        self, operation: str, values: dict[str, Any]
    ) -> tuple[dict[str, str], store.User]:
        pool_id = values["UserPoolId"]
        await self.quota(operation, pool_id)
        record = await self.pool(pool_id)
        if record.get("device_tracking", "1") != "1":
            raise e.InvalidUserPoolConfigurationException(e.DEVICE_TRACKING_OFF)
        user, _ = await self.user(pool_id, values["Username"])
        return record, user

    def _device(self, user: store.User, fields: dict[str, str]) -> dict[str, Any]:
        return device_from_hash(
            fields,
            username=user.username,
            pool_id=user.pool_id,
            account_id=self.settings.account_id,
        )

    async def admin_get_device(self, body: dict[str, Any]) -> bytes:
        values = self.validate(body, (DEVICE_KEY, POOL_ID, USERNAME))
        _, user = await self._device_user("AdminGetDevice", values)
        with refusals():
            fields = await store.admin_device(self.r, user, values["DeviceKey"])
        return dumps({"Device": self._device(user, fields)})

    async def admin_update_device_status(self, body: dict[str, Any]) -> bytes:
        values = self.validate(
            body,
            (
                POOL_ID,
                USERNAME,
                DEVICE_KEY,
                StringMember("DeviceRememberedStatus", enum=("remembered", "not_remembered")),
            ),
        )
        status = values["DeviceRememberedStatus"]
        if status is None:
            # Optional in the model, but nothing to update without it (as UpdateDeviceStatus).
            raise e.InvalidParameterException(
                "1 validation error detected: Value null at 'deviceRememberedStatus' failed to "
                "satisfy constraint: Member must not be null"
            )
        _, user = await self._device_user("AdminUpdateDeviceStatus", values)
        with refusals():
            await store.admin_device(self.r, user, values["DeviceKey"], status=status)
        return b"{}"

    async def admin_forget_device(self, body: dict[str, Any]) -> bytes:
        values = self.validate(body, (POOL_ID, USERNAME, DEVICE_KEY))
        _, user = await self._device_user("AdminForgetDevice", values)
        with refusals():
            await store.admin_device(self.r, user, values["DeviceKey"], forget=True)
        return b"{}"

    async def admin_list_devices(self, body: dict[str, Any]) -> bytes:
        values = self.validate(
            body,
            (
                POOL_ID,
                USERNAME,
                IntMember("Limit", min_value=0, max_value=60),
                StringMember("PaginationToken", min_len=1, pattern=r"[\S]+"),
            ),
        )
        record, user = await self._device_user("AdminListDevices", values)
        secret = bytes.fromhex(record.get("secret") or "00")
        # Newest created first, then by key: the order ListDevices uses.
        devices = sorted(
            await store.user_devices(self.r, user),
            key=lambda d: (-int(d.get("create_ms") or 0), d.get("key", "")),
        )
        start = 0
        if values["PaginationToken"] is not None:
            token = values["PaginationToken"]
            after_ms, after_key = page_tokens.open_(secret, _page_scope(user), token)
            after = (-after_ms, after_key)
            start = next(
                (
                    i
                    for i, d in enumerate(devices)
                    if (-int(d.get("create_ms") or 0), d["key"]) > after
                ),
                len(devices),
            )
        limit = values["Limit"] or DEFAULT_PAGE
        page = devices[start : start + limit]
        answer: dict[str, Any] = {"Devices": [self._device(user, d) for d in page]}
        if page and start + len(page) < len(devices):
            last = page[-1]
            answer["PaginationToken"] = page_tokens.seal(
                secret, _page_scope(user), int(last.get("create_ms") or 0), last["key"]
            )
        return dumps(answer)


def _page_scope(user: store.User) -> str:
    """Pagination tokens of the admin's list of a user's devices (not the user's own list)."""
    return f"admin:{user.pool_id}:{user.gen}:{user.username}"
