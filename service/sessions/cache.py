"""A bounded memo: a dict that drops its oldest entries when full (no LRU bookkeeping on hits).

Shared by the token -> route cache and the serialised-answer memos. Insertion order is the
eviction order: a hit costs one dict lookup and nothing else, which is what the hot path wants.
"""

from __future__ import annotations

from itertools import islice
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# A full cache evicts this share of its entries at once (at least one).
EVICT_SHARE = 16


class BoundedCache(dict[K, V], Generic[K, V]):
    """A dict of at most `limit` entries; `put` evicts the oldest first, a batch at a time.

    Finding a dict's oldest key walks past every slot freed since the dict was last compacted:
    evicting one key per insert made each miss of a full 16,384-entry cache walk thousands of
    empty slots (several microseconds). A batch of limit/16 keys pays that walk once."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._batch = max(1, limit // EVICT_SHARE)

    def put(self, key: K, value: V) -> None:
        if key not in self and len(self) >= self.limit:
            self._evict()
        self[key] = value

    def put_new(self, key: K, value: V) -> None:
        """put() of a key the caller found absent (one dict lookup fewer). Should it have come
        back meanwhile, it is replaced, and at worst a batch is evicted a little early."""
        if len(self) >= self.limit:
            self._evict()
        self[key] = value

    def _evict(self) -> None:
        for old in list(islice(iter(self), self._batch)):
            del self[old]
