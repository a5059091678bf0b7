"""A bounded memo: a dict that drops its oldest entry when full (no LRU bookkeeping on hits).

Shared by the token -> route cache and the serialised-answer memos. Insertion order is the
eviction order: a hit costs one dict lookup and nothing else, which is what the hot path wants.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(dict[K, V], Generic[K, V]):
    """A dict of at most `limit` entries; `put` evicts the oldest first."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: K, value: V) -> None:
        if key not in self and len(self) >= self.limit:
            del self[next(iter(self))]
        self[key] = value
