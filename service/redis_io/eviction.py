"""Redis's `maxmemory-policy`: the service's data must never be evicted.

Everything the service keeps is in Redis and only there: pools with their private keys, the
admin credentials, users, devices. Under `allkeys-*`, memory pressure evicts any of it (seen:
every `cgd:*` key gone, /readyz still 200, and a restarted pod making admin credentials other
than the running ones'). So:

- `allkeys-*` is refused, at start and on readiness, with an error that says what to set.
- `noeviction` is what to run: at the limit, writes fail (an InternalErrorException) and nothing
  is lost.
- `volatile-*` is accepted: it evicts only keys with a TTL, and every key the service gives a
  TTL is one whose loss costs a retry, never data (docs/redis.md; tests/test_eviction.py checks
  that no other key carries a TTL): cached token claims (verified again), sign-in sessions (the
  sign-in starts over; a replayed session is still refused) and idle quota buckets (refilled).
  When no such key is left, Redis refuses writes, as under `noeviction`.

The policy is read with CONFIG GET; managed services (ElastiCache) rename or block CONFIG, and
an ACL may refuse it, so INFO memory's `maxmemory_policy` is the fallback. If both are refused,
that is said once and the service goes on: it cannot tell, and refusing to start would lock
out every deployment that cannot grant them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .redis_errors import RedisReplyError

# Named as before the move into layers (issue 23): log filters and tests match the name.
log = logging.getLogger("service.eviction")

# Sends one command and returns its reply (the hot pipe's execute).
Send = Callable[..., Awaitable[Any]]


class EvictionPolicyError(RuntimeError):
    """Redis may evict any key: the service's data would be lost under memory pressure."""


class DataLostError(RuntimeError):
    """A record that exists once the service has started is gone: Redis lost data."""


def _from_config(reply: Any) -> str:
    # RESP2: [b"maxmemory-policy", b"noeviction"]
    return bytes(reply[1]).decode()


def _from_info(reply: Any) -> str:
    for line in bytes(reply).decode().splitlines():
        name, _, value = line.partition(":")
        if name == "maxmemory_policy":
            return value.strip()
    raise ValueError("no maxmemory_policy in INFO memory")


_READERS: tuple[tuple[tuple[str, ...], Callable[[Any], str]], ...] = (
    (("CONFIG", "GET", "maxmemory-policy"), _from_config),
    (("INFO", "memory"), _from_info),
)


class PolicyCheck:
    """Reads the policy (the first way that works, remembered) and judges it."""

    def __init__(self) -> None:
        self._readers = list(_READERS)
        self._said: set[str] = set()  # what was already logged: said once, not per probe

    async def read(self, send: Send) -> str | None:
        """The policy, or None when Redis refuses every way of asking (then stop asking)."""
        while self._readers:
            command, parse = self._readers[0]
            try:
                return parse(await send(*command))
            except (RedisReplyError, ValueError, IndexError, TypeError) as exc:
                # NOPERM (an ACL), unknown command (renamed CONFIG): try the next way, for good.
                log.info("cannot read maxmemory-policy with %s: %s", " ".join(command[:2]), exc)
                self._readers.pop(0)
        self._once(
            "unknown",
            logging.WARNING,
            "Redis refused both CONFIG GET and INFO: cannot check maxmemory-policy; make sure it "
            "is noeviction (or volatile-*), or the service's data may be evicted",
        )
        return None

    async def check(self, send: Send) -> str | None:
        """Read the policy and raise EvictionPolicyError if it may evict the service's data.
        Returns the policy (None if unknown). RedisUnavailable passes through."""
        policy = await self.read(send)
        if policy is None:
            return None
        judge(policy)
        if policy.startswith("volatile-"):
            self._once(
                policy,
                logging.INFO,
                f"maxmemory-policy is {policy}: only keys with a TTL (cached claims, sign-in "
                "sessions, idle quota buckets) can be evicted, and losing one costs a retry",
            )
        return policy

    def _once(self, what: str, level: int, message: str) -> None:
        if what not in self._said:
            self._said.add(what)
            log.log(level, message)


def judge(policy: str) -> None:
    """Raise EvictionPolicyError for a policy that may evict any key (`allkeys-*`)."""
    if policy.startswith("allkeys-"):
        raise EvictionPolicyError(
            f"Redis maxmemory-policy is {policy}: under memory pressure Redis would evict this "
            "service's pools, signing keys, credentials and users. Set maxmemory-policy "
            "noeviction (or volatile-lru); see docs/redis.md"
        )
