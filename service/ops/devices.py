"""The device operations a user's own access token drives (GetDevice, ListDevices,
UpdateDeviceStatus, ForgetDevice, ConfirmDevice)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from ..model import errors as e
from ..model import page_tokens
from ..model.devices import user_device_object
from ..model.validation import GET_DEVICE_INPUT, IntMember, StringMember, StructMember
from ..redis_io import lua
from ..sessions.cache import BoundedCache
from ..sessions.routes import Route
from ..sessions.session import Refusal, TokenOperation

ACCESS_TOKEN = StringMember(
    "AccessToken", required=True, pattern=r"[A-Za-z0-9-_=.]+", sensitive=True
)
DEVICE_KEY = StringMember(
    "DeviceKey", required=True, min_len=1, max_len=55, pattern=r"[\w-]+_[0-9a-f-]+"
)
# Answers already serialised (device fragments by the script's reply, and GetDevice's held
# answers, about 0.5 KB each); oldest go first.
BODY_CACHE_MAX = 16384
# ListDevices' page size when Limit is 0 or absent. No document or capture gives Cognito's
# default; 60, the most a page may hold, is what Amplify's fetchDevices asks for (inferred).
DEFAULT_PAGE = 60
# Bytes of whole ListDevices answers a worker holds for conditional reads (list_devices.lua):
# about 900 users' answers of 60 devices (~18 KB each), or about 28,000 of two.
PAGE_CACHE_BYTES = 16 * 1024 * 1024
# Where a request keeps the held answer it asked Redis about (not a member of any shape).
HELD = "_held"
NOT_HELD = ("",)
_DEVICE_FRAGMENTS: BoundedCache[tuple[Any, ...], bytes] = BoundedCache(BODY_CACHE_MAX)


def _fragment(values: tuple[Any, ...]) -> bytes:
    """One device's JSON, memoised: a page of 60 devices is mostly repeats of earlier pages."""
    body = _DEVICE_FRAGMENTS.get(values)
    if body is None:
        body = orjson.dumps(user_device_object(values))
        _DEVICE_FRAGMENTS.put(values, body)
    return body


class GetDevice(TokenOperation):
    name = "GetDevice"
    shape = GET_DEVICE_INPUT
    script = lua.GET_DEVICE
    refusals: ClassVar[Mapping[bytes, Refusal]] = {
        b"NO_DEVICE": (e.ResourceNotFoundException, e.DEVICE_NOT_FOUND)
    }

    def __init__(self) -> None:
        # (user key, device key) -> (version, answer) of devices this worker answered: a later
        # call passes the version, and while it is current the script reads no device.
        self.held: BoundedCache[tuple[str, str], tuple[bytes, bytes]] = BoundedCache(BODY_CACHE_MAX)

    def keys(self, route: Route, values: dict[str, Any]) -> tuple[str, ...]:
        return (route.user_keys.device(values["DeviceKey"]),)

    def args(self, route: Route, values: dict[str, Any]) -> tuple[Any, ...]:
        held = self.held.get((route.user_keys.base, values["DeviceKey"]))
        if held is None:
            return NOT_HELD
        # Kept with the request, as another may replace or evict the entry meanwhile.
        values[HELD] = held
        return (held[0],)

    def answer(self, reply: list[Any], route: Route, values: dict[str, Any]) -> bytes:
        if reply[1] == b"SAME":
            held: tuple[bytes, bytes] = values[HELD]
            return held[1]
        body = b'{"Device":' + _fragment(tuple(reply[1:8])) + b"}"
        self.held.put((route.user_keys.base, values["DeviceKey"]), (reply[8], body))
        return body


class ListDevices(TokenOperation):
    name = "ListDevices"
    shape = (
        ACCESS_TOKEN,
        IntMember("Limit", min_value=0, max_value=60),
        StringMember("PaginationToken", min_len=1, pattern=r"[\S]+"),
    )
    script = lua.session_script("list_devices", "_devices")

    def __init__(self) -> None:
        # user key -> (version, device count, answer) of users whose whole list fit one page.
        self.pages = PageCache(PAGE_CACHE_BYTES)

    def keys(self, route: Route, values: dict[str, Any]) -> tuple[str, ...]:
        return (route.user_keys.devices,)

    def args(self, route: Route, values: dict[str, Any]) -> tuple[Any, ...]:
        limit = values["Limit"] or DEFAULT_PAGE
        page_token = values["PaginationToken"]
        if page_token is None:
            held = self.pages.get(route.user_keys.base)
            if held is not None and held[1] <= limit:
                # The held answer is every device: good for any page that would hold them all.
                # Kept with the request, as another may replace or evict the entry meanwhile.
                values[HELD] = held
                return (limit, "", "", route.user_keys.base, held[0])
            return (limit, "", "", route.user_keys.base, "")
        after_ms, after_key = page_tokens.open_(route.pool.secret, _page_scope(route), page_token)
        return (limit, after_ms, after_key, route.user_keys.base, "")

    def answer(self, reply: list[Any], route: Route, values: dict[str, Any]) -> bytes:
        if reply[1] == b"SAME":
            # Still the version this worker rendered: the script read no device.
            held: tuple[bytes, int, bytes] = values[HELD]
            return held[2]
        more, count, version = int(reply[1]), int(reply[2]), reply[3]
        devices = [tuple(reply[4 + 7 * i : 11 + 7 * i]) for i in range(count)]
        body = b'{"Devices":[' + b",".join(_fragment(d) for d in devices) + b"]"
        if more and devices:
            last = devices[-1]
            token = page_tokens.seal(
                route.pool.secret, _page_scope(route), int(last[4] or 0), last[0].decode()
            )
            body += b',"PaginationToken":' + orjson.dumps(token)
        body += b"}"
        if not more and values["PaginationToken"] is None:
            self.pages.put(route.user_keys.base, (version, count, body))
        return body


class PageCache(dict[str, tuple[bytes, int, bytes]]):
    """Whole device lists as answered, by user key, at most `budget` answer bytes in all;
    the oldest go first. Every entry is checked against Redis before it is used (its version),
    so an entry is never stale, only evicted."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget
        self.size = 0

    def put(self, key: str, entry: tuple[bytes, int, bytes]) -> None:
        old = self.pop(key, None)
        if old is not None:
            self.size -= len(old[2])
        self.size += len(entry[2])
        while self.size > self.budget and self:
            self.size -= len(self.pop(next(iter(self)))[2])
        self[key] = entry


def _page_scope(route: Route) -> str:
    """Pagination tokens of the user's own list: valid only for this user."""
    return f"{route.pool.id}:{route.pool.gen}:{route.username}"


class UpdateDeviceStatus(TokenOperation):
    name = "UpdateDeviceStatus"
    shape = (
        ACCESS_TOKEN,
        DEVICE_KEY,
        StringMember("DeviceRememberedStatus", enum=("remembered", "not_remembered")),
    )
    script = lua.session_script("update_device_status")
    writes = True
    refusals: ClassVar[Mapping[bytes, Refusal]] = {
        b"NO_DEVICE": (e.ResourceNotFoundException, e.DEVICE_NOT_FOUND)
    }

    def keys(self, route: Route, values: dict[str, Any]) -> tuple[str, ...]:
        return (route.user_keys.device(values["DeviceKey"]),)

    def args(self, route: Route, values: dict[str, Any]) -> tuple[Any, ...]:
        # The model marks the member optional, but there is nothing to update without it: it
        # is answered as a missing required member (inferred; no capture exists).
        status = values["DeviceRememberedStatus"]
        if status is None:
            raise e.InvalidParameterException(
                "1 validation error detected: Value null at 'deviceRememberedStatus' failed to "
                "satisfy constraint: Member must not be null"
            )
        return (status,)

    def answer(self, reply: list[Any], route: Route, values: dict[str, Any]) -> bytes:
        return b"{}"


class ForgetDevice(TokenOperation):
    name = "ForgetDevice"
    shape = (StringMember("AccessToken", pattern=r"[A-Za-z0-9-_=.]+", sensitive=True), DEVICE_KEY)
    script = lua.session_script("forget_device", "_devices")
    writes = True
    refusals: ClassVar[Mapping[bytes, Refusal]] = {
        b"NO_DEVICE": (e.ResourceNotFoundException, e.DEVICE_NOT_FOUND)
    }

    def keys(self, route: Route, values: dict[str, Any]) -> tuple[str, ...]:
        uk = route.user_keys
        return (uk.devices, uk.device(values["DeviceKey"]))

    def args(self, route: Route, values: dict[str, Any]) -> tuple[Any, ...]:
        return (values["DeviceKey"],)

    def answer(self, reply: list[Any], route: Route, values: dict[str, Any]) -> bytes:
        return b"{}"


VERIFIER = StructMember(
    "DeviceSecretVerifierConfig",
    (
        StringMember("PasswordVerifier", min_len=0, max_len=131072),
        StringMember("Salt", min_len=0, max_len=131072),
    ),
)


class ConfirmDevice(TokenOperation):
    name = "ConfirmDevice"
    shape = (
        ACCESS_TOKEN,
        DEVICE_KEY,
        VERIFIER,
        StringMember("DeviceName", min_len=1, max_len=1024),
    )
    script = lua.session_script("confirm_device", "_devices")
    writes = True
    refusals: ClassVar[Mapping[bytes, Refusal]] = {
        # Captured in aws-amplify/amplify-js #2705 and #8469, and boto3 #4059.
        b"BAD_KEY": (e.InvalidParameterException, "Invalid device key given."),
        # The model's DeviceKeyExistsException ("a device key that already exists"); no
        # capture of its message exists, so it is inferred.
        b"CONFIRMED": (e.DeviceKeyExistsException, "Device key already exists."),
    }

    def keys(self, route: Route, values: dict[str, Any]) -> tuple[str, ...]:
        uk = route.user_keys
        return (uk.devices, uk.device(values["DeviceKey"]))

    def args(self, route: Route, values: dict[str, Any]) -> tuple[Any, ...]:
        config = values["DeviceSecretVerifierConfig"] or {}
        remembered = "not_remembered" if route.pool.remember_on_prompt else "remembered"
        return (
            values["DeviceKey"],
            config.get("PasswordVerifier") or "",
            config.get("Salt") or "",
            values["DeviceName"] or "",
            remembered,
        )

    def answer(self, reply: list[Any], route: Route, values: dict[str, Any]) -> bytes:
        # With DeviceOnlyRememberedOnUserPrompt the user must opt in (UpdateDeviceStatus): the
        # API reference's UserConfirmationNecessary.
        if route.pool.remember_on_prompt:
            return b'{"UserConfirmationNecessary":true}'
        return b'{"UserConfirmationNecessary":false}'
