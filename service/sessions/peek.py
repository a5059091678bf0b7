"""Where an access token's session would live, read without verifying it.

Only a hint: nothing read here is trusted. A warm call needs the exact token (by digest) to
have been verified and stored at the place found here; a wrong place is a cache miss, which
leads to full verification and to the place the verified claims name. So a cheaper way of
reading the same hint is always safe, and this one runs on every miss of the worker's
token -> route cache (at scale, most requests: ROUTE_CACHE_SIZE in docs/settings.md).

Cognito's access tokens (and ours, which copy them) have a fixed header per signing key,
`{"kid":"...","alg":"RS256"}`, and end with the username claim, `..."username":"alice"}`.
The header's base64url text therefore names the pool outright, and the username is in the
payload's last characters: decoding those alone costs less than half of decoding and parsing
the whole ~700-character payload (1.3 µs against 2.9, measured apart). Anything else (another
header, another claim order, escapes) is read the long way.
"""

from __future__ import annotations

import binascii
from typing import Generic, TypeVar

import orjson

from ..credentials.pool import Pool
from ..credentials.pools import PoolRegistry
from .cache import BoundedCache

V = TypeVar("V")

# Payload characters decoded to find the username: a multiple of 4 (whole base64 quanta),
# 72 bytes, so a username of up to 58 bytes (a UUID is 36) is found in the tail.
_TAIL_CHARS = 96
_USERNAME_AT = b'"username":"'
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
# Hints remembers tails by the payload's last _TAIL_KEY_CHARS characters.
_TAIL_KEY_CHARS = 8
# Padding enough for any length: a2b_base64 (not strict) ignores what a complete text does not
# need, and refuses a length no padding can complete.
_PAD = b"=="


def peek(token: str, registry: PoolRegistry) -> tuple[Pool, str] | None:
    """The pool and username a token claims, unverified; None if it is not shaped like one of
    the pools' tokens (full verification then says why)."""
    found = locate(token, registry)
    return None if found is None else (found[0], found[1])


def locate(token: str, registry: PoolRegistry) -> tuple[Pool, str, str] | None:
    """peek(), and the payload's tail text that holds the username claim ("" when the payload
    was read the long way): the key of the user's later tokens in Hints."""
    first = token.find(".")
    second = token.find(".", first + 1)
    if first < 0 or second < 0 or token.find(".", second + 1) >= 0:
        return None
    pool = registry.by_header.get(token[:first])
    if pool is not None:
        found = _tail_username(token, first + 1, second)
        if found is not None:
            return pool, found[0], found[1]
    peeked = _peek_payload(token[first + 1 : second], registry)
    return None if peeked is None else (peeked[0], peeked[1], "")


class Hints(Generic[V]):
    """Hints read before, by the payload's last characters: a user's later tokens end with the
    tail text that held the username claim (the claims before it, jti and exp, differ per
    token), so a dict lookup and two comparisons replace locate() and what the caller built
    from its answer (V: the pool, the username, the user's keys). A tail that ends like
    another user's just misses; usernames are not secret here (they are in the tokens, and
    this is only the hint). Holds pools: clear() it when they change."""

    def __init__(self, limit: int) -> None:
        # The payload's last characters -> (the header, the tail text, the caller's value).
        self._memo: BoundedCache[str, tuple[str, str, V]] = BoundedCache(limit)

    def __len__(self) -> int:
        return len(self._memo)

    def clear(self) -> None:
        self._memo.clear()

    def get(self, token: str) -> V | None:
        first = token.find(".")
        second = token.find(".", first + 1)
        known = self._memo.get(token[second - _TAIL_KEY_CHARS : second])
        if known is None:
            return None
        header, text, value = known
        at = second - len(text)
        # The same header, and the same tail text at the same place in its base64 quanta (which
        # decodes to the same bytes). Further dots are not looked for: a hint only places the
        # token, and a token no one verified misses there and is verified in full.
        if (
            first == len(header)
            and at > first
            and not (at - first - 1) % 4
            and token.startswith(header)
            and token.startswith(text, at)
        ):
            return value
        return None

    def put(self, token: str, text: str, value: V) -> None:
        """Remember `value` for tokens with `token`'s header and tail `text` (from locate)."""
        first = token.find(".")
        self._memo.put(text[-_TAIL_KEY_CHARS:], (token[:first], text, value))


def _tail_username(token: str, start: int, end: int) -> tuple[str, str] | None:
    """The username claim when it is the payload's last member, from the payload's last
    characters alone, and the tail text that holds it; None when it is not found there."""
    # Whole base64 quanta counted from the payload's start, about _TAIL_CHARS of them.
    start += max(0, (end - start - _TAIL_CHARS) // 4 * 4)
    window = token[start:end]
    try:
        tail = binascii.a2b_base64(window.encode("ascii").translate(_FROM_URLSAFE) + _PAD)
    except (ValueError, binascii.Error):  # UnicodeEncodeError is a ValueError
        return None
    at = tail.rfind(_USERNAME_AT)
    if at < 0 or not tail.endswith(b'"}'):
        return None
    raw = tail[at + len(_USERNAME_AT) : -2]
    # A quote means the username was not the last member; a backslash, an escape that only a
    # JSON parser reads right.
    if not raw or b'"' in raw or b"\\" in raw:
        return None
    try:
        username = raw.decode()
    except UnicodeDecodeError:
        return None
    # The shortest whole-quanta text that holds the claim: from the quantum holding the claim's
    # opening quote to the payload's end. Every token of this user (of the same payload length
    # modulo 3) ends with it; the claims before it (jti, exp) differ per token.
    return username, window[at // 3 * 4 :]


def _peek_payload(segment: str, registry: PoolRegistry) -> tuple[Pool, str] | None:
    """The long way: decode and parse the whole payload, and find the pool by its issuer."""
    try:
        payload = orjson.loads(
            binascii.a2b_base64(segment.encode("ascii").translate(_FROM_URLSAFE) + _PAD)
        )
    except (ValueError, binascii.Error):
        return None
    if not isinstance(payload, dict):
        return None
    iss, username = payload.get("iss"), payload.get("username")
    if not isinstance(iss, str) or not isinstance(username, str) or not username:
        return None
    pool = registry.by_issuer.get(iss)
    return None if pool is None else (pool, username)
