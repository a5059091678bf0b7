"""Every setting, read from the environment in exactly one place."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

POOL_ID_RE = re.compile(r"[\w-]+_[0-9a-zA-Z]+", re.ASCII)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false")


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError("expected a positive number")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError("expected a number >= 0")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("expected a positive integer")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number 0..65535")
    return value


_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _network(item: str) -> Network:
    net = ipaddress.ip_network(item, strict=False)
    # Client addresses are matched as IPv4 when they are IPv4-mapped (service/netrules.py), so
    # a rule written as ::ffff:a.b.c.d/n is the IPv4 rule it stands for.
    if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(_V4_MAPPED):
        mapped = net.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, net.prefixlen - 96))
    return net


def _cidrs(raw: str) -> tuple[Network, ...]:
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return tuple(_network(item) for item in items)


def _pool_id(raw: str) -> str:
    if not POOL_ID_RE.fullmatch(raw) or len(raw) > 55:
        raise ValueError("expected a user pool id such as us-east-1_EXAMPLE")
    return raw


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "cognito-device-api")


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Build it with `Settings.from_env()`."""

    # Where Redis is. Empty means: start (or reuse) the embedded redis-server.
    redis_url: str = ""
    redis_server: str = ""
    data_dir: str = field(default_factory=_default_data_dir)
    redis_timeout_s: float = 1.0
    redis_max_inflight: int = 20000

    host: str = "127.0.0.1"
    port: int = 9229
    workers: int = 1
    grace_s: float = 10.0
    max_body_bytes: int = 65536
    body_timeout_s: float = 10.0
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 75.0

    region: str = "us-east-1"
    account_id: str = "000000000000"
    default_pool_id: str = "us-east-1_LocalPool"
    issuer_base_url: str = ""
    public_base_url: str = ""
    pool_refresh_s: float = 1.0
    claims_cache_max_ttl_s: int = 3600
    # Tokens of pools that trust outside keys carry another clock's iat: a sign-out also
    # revokes those issued up to this long after it (see get_device.lua).
    iat_skew_s: float = 5.0

    user_rate_per_s: float = 10.0
    user_burst: int = 10
    pool_rate_limit: bool = False
    pool_rate_per_s: float = 50.0
    pool_burst: int = 50

    deny_cidrs: tuple[Network, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()

    demo: bool = True
    log_level: str = "INFO"
    access_log: bool = False

    # A worker failing this many times in a row, each soon after its start, stops the server.
    crash_loop_limit: int = 5

    def issuer(self, pool_id: str) -> str:
        """The `iss` claim of tokens from `pool_id`."""
        return f"{self.issuer_base}/{pool_id}"

    @property
    def issuer_base(self) -> str:
        if self.issuer_base_url:
            return self.issuer_base_url.rstrip("/")
        return f"https://cognito-idp.{self.region}.amazonaws.com"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec_name, (var, cast) in _SPEC.items():
            raw = env.get(var)
            if raw is None:
                continue
            try:
                values[spec_name] = cast(raw)
            except (ValueError, TypeError) as exc:
                raise SettingsError(f"{var}={raw!r} is invalid: {exc}") from None
        settings = replace(cls(), **values)
        settings = replace(settings, **overrides)
        settings.check()
        return settings

    def check(self) -> None:
        """Cross-field checks; raise SettingsError naming the variable."""
        schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
        if self.redis_url and not self.redis_url.startswith(schemes):
            raise SettingsError(
                f"REDIS_URL={self.redis_url!r} is invalid: expected one of {', '.join(schemes)}"
            )
        for var, url in (
            ("ISSUER_BASE_URL", self.issuer_base_url),
            ("PUBLIC_BASE_URL", self.public_base_url),
        ):
            if url and not url.startswith(("http://", "https://")):
                raise SettingsError(f"{var}={url!r} is invalid: expected an http(s) URL")


def _str(raw: str) -> str:
    return raw


def _region(raw: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", raw):
        raise ValueError("expected an AWS region such as us-east-1")
    return raw


def _account(raw: str) -> str:
    if not re.fullmatch(r"\d{12}", raw):
        raise ValueError("expected 12 digits")
    return raw


_SPEC: dict[str, tuple[str, Callable[[str], Any]]] = {
    "redis_url": ("REDIS_URL", _str),
    "redis_server": ("REDIS_SERVER", _str),
    "data_dir": ("DATA_DIR", _str),
    "redis_timeout_s": ("REDIS_TIMEOUT_S", _positive_float),
    "redis_max_inflight": ("REDIS_MAX_INFLIGHT", _positive_int),
    "host": ("HOST", _str),
    "port": ("PORT", _port),
    "workers": ("WORKERS", _positive_int),
    "grace_s": ("GRACE_S", _positive_float),
    "max_body_bytes": ("MAX_BODY_BYTES", _positive_int),
    "body_timeout_s": ("BODY_TIMEOUT_S", _positive_float),
    "header_timeout_s": ("HEADER_TIMEOUT_S", _positive_float),
    "keepalive_timeout_s": ("KEEPALIVE_TIMEOUT_S", _positive_float),
    "region": ("REGION", _region),
    "account_id": ("ACCOUNT_ID", _account),
    "default_pool_id": ("DEFAULT_POOL_ID", _pool_id),
    "issuer_base_url": ("ISSUER_BASE_URL", _str),
    "public_base_url": ("PUBLIC_BASE_URL", _str),
    "pool_refresh_s": ("POOL_REFRESH_S", _positive_float),
    "claims_cache_max_ttl_s": ("CLAIMS_CACHE_MAX_TTL_S", _positive_int),
    "iat_skew_s": ("IAT_SKEW_S", _non_negative_float),
    "user_rate_per_s": ("USER_RATE_PER_S", _positive_float),
    "user_burst": ("USER_BURST", _positive_int),
    "pool_rate_limit": ("POOL_RATE_LIMIT", _bool),
    "pool_rate_per_s": ("POOL_RATE_PER_S", _positive_float),
    "pool_burst": ("POOL_BURST", _positive_int),
    "deny_cidrs": ("DENY_CIDRS", _cidrs),
    "trusted_proxies": ("TRUSTED_PROXIES", _cidrs),
    "demo": ("DEMO", _bool),
    "log_level": ("LOG_LEVEL", _log_level),
    "access_log": ("ACCESS_LOG", _bool),
    "crash_loop_limit": ("CRASH_LOOP_LIMIT", _positive_int),
}

# The environment variable behind each field, for docs and error messages.
ENV_VARS: dict[str, str] = {name: var for name, (var, _) in _SPEC.items()}
assert set(ENV_VARS) == {f.name for f in fields(Settings)}
