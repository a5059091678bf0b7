"""Who the client is (trusted proxies, X-Forwarded-For / Forwarded) and the WAF-like deny rules."""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Sequence

from aiohttp import web

from .setting_casts import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# The request being answered, for operations that record who called (sign-in's last_ip_used);
# set by the API endpoint (a context variable: one per request task).
CURRENT_REQUEST: contextvars.ContextVar[web.BaseRequest | None] = contextvars.ContextVar(
    "current_request", default=None
)


def normalise(addr: Address) -> Address:
    """IPv4 as itself: a dual-stack listener (HOST=::) sees IPv4 peers as ::ffff:a.b.c.d, and a
    proxy may forward them so; rules written as IPv4 CIDRs must still match them."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _parse(value: str) -> Address | None:
    value = value.strip().strip('"')
    if value.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        value = value[1 : value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        return normalise(ipaddress.ip_address(value))
    except ValueError:
        return None


def _in(addr: Address, networks: Sequence[Network]) -> bool:
    return any(addr.version == net.version and addr in net for net in networks)


def _forwarded_chain(request: web.BaseRequest) -> list[str]:
    forwarded = request.headers.getall("Forwarded", [])
    if forwarded:
        hops = []
        for header in forwarded:
            for element in header.split(","):
                for pair in element.split(";"):
                    name, _, value = pair.strip().partition("=")
                    if name.lower() == "for":
                        hops.append(value)
        return hops
    return [h for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",")]


def client_ip(request: web.BaseRequest, trusted: Sequence[Network]) -> Address | None:
    """The client's address. Forwarding headers count only when the peer is a trusted proxy,
    and then only up to the first hop (from the right) that is not itself trusted."""
    peer = _parse(request.remote or "")
    if peer is None or not trusted or not _in(peer, trusted):
        return peer
    addr = peer
    for hop in reversed(_forwarded_chain(request)):
        parsed = _parse(hop)
        if parsed is None:
            break
        addr = parsed
        if not _in(parsed, trusted):
            break
    return addr


def denied(addr: Address | None, deny: Sequence[Network]) -> bool:
    return addr is not None and _in(addr, deny)
