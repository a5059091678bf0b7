"""How each setting's text becomes a value: the casts `setting(...)` names on Settings, each
raising ValueError on a bad value (Settings.from_env turns it into a SettingsError naming the
variable), and mask_url, which hides a URL's password in those messages."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from ..model.quotas import CATEGORY_RPS

POOL_ID_RE = re.compile(r"[\w-]+_[0-9a-zA-Z]+", re.ASCII)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def boolean(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false")


def positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError("expected a positive number")
    return value


def non_negative_float(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError("expected a number >= 0")
    return value


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("expected a positive integer")
    return value


def port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number 0..65535")
    return value


_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def network(item: str) -> Network:
    net = ipaddress.ip_network(item, strict=False)
    # Client addresses are matched as IPv4 when they are IPv4-mapped (service/runtime/netrules.py),
    # so a rule written as ::ffff:a.b.c.d/n is the IPv4 rule it stands for.
    if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(_V4_MAPPED):
        mapped = net.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, net.prefixlen - 96))
    return net


def cidrs(raw: str) -> tuple[Network, ...]:
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return tuple(network(item) for item in items)


def category_rates(raw: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in CATEGORY_RPS:
            raise ValueError(
                f"expected Category=rps pairs with categories of {', '.join(CATEGORY_RPS)}"
            )
        rates[name.strip()] = positive_float(value)
    return rates


def pool_id(raw: str) -> str:
    if not POOL_ID_RE.fullmatch(raw) or len(raw) > 55:
        raise ValueError("expected a user pool id such as us-east-1_EXAMPLE")
    return raw


def log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "cognito-device-api")


def text(raw: str) -> str:
    return raw


def region(raw: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", raw):
        raise ValueError("expected an AWS region such as us-east-1")
    return raw


def account(raw: str) -> str:
    if not re.fullmatch(r"\d{12}", raw):
        raise ValueError("expected 12 digits")
    return raw


_ACCESS_KEY_RE = re.compile(r"[\w]{1,128}", re.ASCII)


def credentials(raw: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, secret = item.partition(":")
        if not sep or not _ACCESS_KEY_RE.fullmatch(key) or not secret or " " in secret:
            # Never echo the value: it holds secrets.
            raise ValueError("expected ACCESS_KEY_ID:SECRET_ACCESS_KEY pairs, comma-separated")
        pairs[key] = secret
    return pairs


# A `password=` query parameter (redis-py takes one, as it takes `user:password@`).
_PASSWORD_PARAM_RE = re.compile(r"([?&;]password=)[^&;#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with its password hidden, for error messages (as ADMIN_CREDENTIALS is: "…").

    The whole userinfo goes, user name included: a mistyped URL may hold the password where
    the user name belongs (`redis://secret@host`), and the last `@` ends it (an unencoded `@`
    or `/` in a password must not leave half of it shown)."""
    at = url.rfind("@")
    if at >= 0:
        start = url.find("//")
        start = start + 2 if 0 <= start < at else 0
        url = url[:start] + "…" + url[at:]
    return _PASSWORD_PARAM_RE.sub(r"\1…", url)
