"""peek(): where a token's session would live, read without verifying it.

The quick reading (the header names the pool, the payload's tail the username) must give what
decoding and parsing the whole payload gives, for every token whose claims Cognito orders as
it does; anything else must be read the long way, never wrongly.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from service.credentials.pool import Pool, token_header
from service.credentials.pools import PoolRegistry
from service.sessions.peek import Hints, locate, peek
from tests.helpers_tokens import b64url, b64url_decode, issue, new_jose_keys


def _pool(name: str, public: Any, kid: str) -> Pool:
    return Pool(
        id=f"eu-west-1_{name}",
        issuer=f"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_{name}",
        region="eu-west-1",
        clients=frozenset({"client-1"}),
        keys={kid: public},
    )


@pytest.fixture(scope="module")
def world() -> tuple[PoolRegistry, Pool, Pool, Any]:
    public, private = new_jose_keys()
    first, second = _pool("One", public, "kid-1"), _pool("Two", public, "kid-2")
    registry = PoolRegistry()
    registry.replace([first, second])
    return registry, first, second, private


def _alice(world: tuple[PoolRegistry, Pool, Pool, Any]) -> tuple[PoolRegistry, Pool, str]:
    """The registry, the first pool, and a token of its user alice."""
    registry, first, _, private = world
    return registry, first, issue(first, "kid-1", private, "alice")


def _payload(token: str) -> dict[str, Any]:
    return json.loads(b64url_decode(token.split(".")[1]))  # type: ignore[no-any-return]


def _with_raw_payload(token: str, payload: bytes) -> str:
    head, _, signature = token.split(".")
    return f"{head}.{b64url(payload)}.{signature}"


USERNAMES = [
    "alice",
    "a",
    "ab",
    "abc",
    "9c1f6d2e-8d3b-4f43-a1a4-2f3e0f6b4c1d",  # a UUID, as pools with email sign-in use
    "üser-ñame",  # multi-byte UTF-8
    "名前",
    "x" * 57,
    "x" * 58,
    "x" * 59,  # longer than the tail holds: read the long way
    "y" * 128,  # Cognito's longest username
    'quote"in',  # JSON escapes: read the long way
    "back\\slash",
    "tab\tin",
    "user}name",
    '"username":"mallory',
]


@pytest.mark.parametrize("username", USERNAMES)
@pytest.mark.parametrize("extras", [{}, {"device_key": "eu-west-1_abc", "groups": ["g"]}])
def test_every_username_is_read_as_a_json_parser_reads_it(
    world: tuple[PoolRegistry, Pool, Pool, Any], username: str, extras: dict[str, Any]
) -> None:
    registry, first, second, private = world
    for pool, kid in ((first, "kid-1"), (second, "kid-2")):
        token = issue(pool, kid, private, username, **extras)
        assert peek(token, registry) == (pool, username)


def test_payload_lengths_at_every_base64_alignment(
    world: tuple[PoolRegistry, Pool, Pool, Any],
) -> None:
    # The payload's length mod 4 decides where the tail's quanta begin: grow it a byte at a
    # time through several quanta.
    registry, first, token = _alice(world)
    payload = _payload(token)
    for pad in range(12):
        changed = {"pad": "p" * pad, **payload}
        raw = orjson.dumps(changed)
        assert peek(_with_raw_payload(token, raw), registry) == (first, "alice"), pad


def test_a_username_that_is_not_last_is_read_the_long_way(
    world: tuple[PoolRegistry, Pool, Pool, Any],
) -> None:
    registry, first, token = _alice(world)
    payload = _payload(token)
    payload["after"] = "x"
    assert peek(_with_raw_payload(token, orjson.dumps(payload)), registry) == (first, "alice")
    # Read the long way: no tail text to remember (Hints).
    assert locate(_with_raw_payload(token, orjson.dumps(payload)), registry) == (first, "alice", "")
    # A value that looks like the username claim, inside a later claim.
    payload["after"] = '"username":"mallory'
    assert peek(_with_raw_payload(token, orjson.dumps(payload)), registry) == (first, "alice")
    # Spaces after the colons (another serialiser).
    spaced = json.dumps(payload).encode()
    assert peek(_with_raw_payload(token, spaced), registry) == (first, "alice")


def _remember(hints: Hints[str], token: str, registry: PoolRegistry) -> str:
    """What RouteCache.locate does on a hint's miss: read the token, remember its tail."""
    found = locate(token, registry)
    assert found is not None and found[2], token
    hints.put(token, found[2], found[1])
    return found[1]


def test_a_users_later_tokens_are_placed_by_the_tail_read_before(
    world: tuple[PoolRegistry, Pool, Pool, Any],
) -> None:
    registry, first, _, private = world
    hints: Hints[str] = Hints(16)
    earlier, later = (issue(first, "kid-1", private, "memo-user") for _ in range(2))
    assert earlier.split(".")[1] != later.split(".")[1]  # another jti, another payload
    assert hints.get(later) is None
    assert _remember(hints, earlier, registry) == "memo-user"
    assert hints.get(later) == "memo-user"
    # Another pool's token with the same tail: another header, so not this hint.
    other = issue(world[2], "kid-2", private, "memo-user")
    assert other.split(".")[1][-8:] == later.split(".")[1][-8:]
    assert hints.get(other) is None
    hints.clear()
    assert hints.get(later) is None


def test_tails_that_end_alike_still_name_their_own_users(
    world: tuple[PoolRegistry, Pool, Pool, Any],
) -> None:
    # Same length, same last characters: one memo key, which each user takes in turn.
    registry, first, _, private = world
    hints: Hints[str] = Hints(16)
    names = ["first-" + "z" * 20, "other-" + "z" * 20]
    issued = [issue(first, "kid-1", private, name) for name in names]
    assert len({token.split(".")[1][-8:] for token in issued}) == 1
    for _ in range(3):
        for name, token in zip(names, issued, strict=True):
            assert peek(token, registry) == (first, name)
            assert hints.get(token) in (None, name)
            _remember(hints, token, registry)
            assert hints.get(token) == name
    assert len(hints) == 1


def test_a_tail_read_before_is_not_trusted_at_another_alignment(
    world: tuple[PoolRegistry, Pool, Pool, Any],
) -> None:
    registry, _, token = _alice(world)
    hints: Hints[str] = Hints(16)
    _remember(hints, token, registry)
    head, payload, signature = token.split(".")
    for shift in ("A", "AB", "ABC"):
        assert hints.get(f"{head}.{shift}{payload}.{signature}") is None
    assert hints.get(f"{head}.ABCD{payload}.{signature}") == "alice"
    # Malformed around a remembered tail: no dots, or the tail where the header would be.
    tail = payload[-8:]
    for shaped in ("", tail, f"{tail}.{signature}", f".{payload}.", f"{head}{payload}.x"):
        assert hints.get(shaped) is None, shaped


def test_an_unknown_header_is_placed_by_its_issuer(
    world: tuple[PoolRegistry, Pool, Pool, Any],
) -> None:
    registry, first, token = _alice(world)
    _, payload, signature = token.split(".")
    for header in (b'{"alg":"RS256","kid":"kid-1"}', b'{"kid":"other","alg":"RS256"}'):
        assert peek(f"{b64url(header)}.{payload}.{signature}", registry) == (first, "alice")
    # Neither header nor issuer known: not one of the pools' tokens.
    elsewhere = orjson.dumps({"iss": "https://elsewhere", "username": "alice"})
    other = b64url(b'{"kid":"other","alg":"RS256"}')
    assert peek(f"{other}.{b64url(elsewhere)}.{signature}", registry) is None


def test_a_known_header_names_its_pool_whatever_the_payload_claims(
    world: tuple[PoolRegistry, Pool, Pool, Any],
) -> None:
    # Only a hint: a payload naming another issuer is placed by the header, misses the cache
    # there and is verified (and refused) in full.
    registry, first, token = _alice(world)
    raw = orjson.dumps({"iss": "https://elsewhere", "username": "alice"})
    assert peek(_with_raw_payload(token, raw), registry) == (first, "alice")


def test_a_key_two_pools_share_names_neither() -> None:
    public, private = new_jose_keys()
    first, second = _pool("One", public, "shared"), _pool("Two", public, "shared")
    registry = PoolRegistry()
    registry.replace([first, second])
    assert token_header("shared") not in registry.by_header
    for pool in (first, second):
        assert peek(issue(pool, "shared", private, "alice"), registry) == (pool, "alice")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "...",
        "a..c",
        "é.b.c",
        "a.é.c",
    ],
)
def test_malformed_tokens_are_nobodys(
    world: tuple[PoolRegistry, Pool, Pool, Any], token: str
) -> None:
    assert peek(token, world[0]) is None


def test_malformed_payloads_under_a_known_header_are_nobodys(
    world: tuple[PoolRegistry, Pool, Pool, Any],
) -> None:
    registry, first, token = _alice(world)
    head, _, signature = token.split(".")
    for payload in ("A", "é" * 200, b64url(b"[1]"), b64url(b'{"username":"alice"')):
        assert peek(f"{head}.{payload}.{signature}", registry) is None, payload
    # The quick reading does not parse JSON: a tail shaped like the username claim is enough
    # for a hint (such a token then fails verification, as any token not stored must).
    shaped = b64url(b'"username":"alice"}')
    assert peek(f"{head}.{shaped}.{signature}", registry) == (first, "alice")
    for claims in ({"username": ""}, {"username": 5}, {"iss": first.issuer}):
        raw = orjson.dumps({"iss": first.issuer, **claims})
        assert peek(f"{head}.{b64url(raw)}.{signature}", registry) is None, claims
