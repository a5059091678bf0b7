"""Client IPs behind proxies: forwarding headers count only from trusted proxies; the derived
address feeds the WAF-like deny rules."""

from __future__ import annotations

import http.client
import ipaddress
from typing import Any

import orjson
import pytest

from service.runtime.settings import Settings

TARGET = "AWSCognitoIdentityProviderService.GetDevice"
BLOCKED = ipaddress.ip_network("203.0.113.0/24")
LOCAL = ipaddress.ip_network("127.0.0.0/8")


def call(port: int, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = orjson.dumps({"DeviceKey": "us-east-1_0"})
        conn.request("POST", "/", body, {"X-Amz-Target": TARGET, **headers})
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


def verdict(port: int, headers: dict[str, str]) -> str:
    status, body = call(port, headers)
    return "blocked" if (status, body["__type"]) == (403, "ForbiddenException") else "passed"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "203.0.113.9"},
        {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"},
        {"Forwarded": 'for="203.0.113.9:4711"'},
    ],
)
def test_untrusted_peer_cannot_spoof_its_address(
    live_factory: Any, headers: dict[str, str]
) -> None:
    # The peer (127.0.0.1) is not a trusted proxy: its headers are ignored, so a client that
    # is not blocked cannot make itself look blocked (or, below, unblocked).
    server, _ = live_factory(deny_cidrs=(BLOCKED,))
    assert verdict(server.port, headers) == "passed"


def test_untrusted_peer_cannot_hide_behind_a_header(live_factory: Any) -> None:
    server, _ = live_factory(deny_cidrs=(LOCAL,))
    assert verdict(server.port, {"X-Forwarded-For": "198.51.100.7"}) == "blocked"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Forwarded-For": "203.0.113.9"}, "blocked"),
        ({"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}, "passed"),  # right-most untrusted hop
        ({"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}, "blocked"),
        ({"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 127.0.0.5"}, "blocked"),  # 2 proxies
        ({"Forwarded": 'for="[2001:db8::1]";proto=https, for=203.0.113.77'}, "blocked"),
        ({"X-Forwarded-For": "garbage"}, "passed"),
        ({}, "passed"),
    ],
)
def test_trusted_proxy_headers_are_believed(
    live_factory: Any, headers: dict[str, str], expected: str
) -> None:
    server, _ = live_factory(deny_cidrs=(BLOCKED,), trusted_proxies=(LOCAL,))
    assert verdict(server.port, headers) == expected


def test_deny_rule_on_the_peer_itself(live_factory: Any) -> None:
    server, _ = live_factory(deny_cidrs=(LOCAL,))
    status, body = call(server.port, {})
    assert status == 403
    assert body == {
        "__type": "ForbiddenException",
        "message": "Request not allowed due to WAF block.",
    }


def test_ipv4_peer_on_a_dual_stack_listener_matches_ipv4_rules(live_factory: Any) -> None:
    # HOST=:: accepts IPv4 clients as ::ffff:127.0.0.1; the IPv4 rule must still see 127.0.0.1.
    server, _ = live_factory(host="::", deny_cidrs=(LOCAL,))
    assert verdict(server.port, {}) == "blocked"


def test_ipv4_proxy_on_a_dual_stack_listener_is_trusted(live_factory: Any) -> None:
    server, _ = live_factory(host="::", deny_cidrs=(BLOCKED,), trusted_proxies=(LOCAL,))
    assert verdict(server.port, {"X-Forwarded-For": "203.0.113.9"}) == "blocked"
    assert verdict(server.port, {"X-Forwarded-For": "198.51.100.1"}) == "passed"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "::ffff:203.0.113.9"},
        {"X-Forwarded-For": "::ffff:cb00:7109"},  # the same address, in hex
        {"Forwarded": 'for="[::ffff:203.0.113.9]:4711"'},
        # A trusted hop written IPv4-mapped is still trusted: the client is the one before it.
        {"X-Forwarded-For": "203.0.113.9, ::ffff:127.0.0.5"},
    ],
)
def test_ipv4_mapped_forwarded_addresses_match_ipv4_rules(
    live_factory: Any, headers: dict[str, str]
) -> None:
    server, _ = live_factory(deny_cidrs=(BLOCKED,), trusted_proxies=(LOCAL,))
    assert verdict(server.port, headers) == "blocked"


def test_ipv4_mapped_rules_match_ipv4_clients(live_factory: Any) -> None:
    # DENY_CIDRS=::ffff:127.0.0.0/104 is the IPv4 rule 127.0.0.0/8.
    rules = Settings.from_env({"DENY_CIDRS": "::ffff:127.0.0.0/104"}).deny_cidrs
    assert rules == (LOCAL,)
    server, _ = live_factory(deny_cidrs=rules)
    assert verdict(server.port, {}) == "blocked"
