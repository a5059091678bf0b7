"""When a worker keeps dying at start: back off, then give up with one line.

A worker that cannot start (Redis unreachable, a bad REDIS_URL host) dies within a second.
Restarting it at once made a supervisor of 2 workers restart 54 times in 10 s at 130 % CPU,
forever. Each worker slot (the single in-process worker too) now waits 0.5 s, 1 s, 2 s, ...
(at most 8 s) before its next start, and after CRASH_LOOP_LIMIT failures in a row, each within
FAST_FAILURE_S of its start, the server exits with EXIT_CRASH_LOOP: an orchestrator (Kubernetes'
CrashLoopBackOff, compose's restart policy) then sees a failed container, not a busy one.
A worker that ran longer than FAST_FAILURE_S before dying starts the count again.
"""

from __future__ import annotations

from dataclasses import dataclass

# The server's exit status when it gives up (2 is a bad setting; 1 any other error).
EXIT_CRASH_LOOP = 3
# A worker that dies sooner than this after its start failed "fast", seconds.
FAST_FAILURE_S = 10.0
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 8.0


@dataclass
class CrashLoop:
    """The restart policy of one worker slot."""

    limit: int
    failures: int = 0

    def failed(self, lived_s: float) -> float | None:
        """Record a death after `lived_s` seconds of life: the delay before the next start,
        or None when this was the limit-th fast failure in a row (give up)."""
        if lived_s >= FAST_FAILURE_S:
            self.failures = 0
        self.failures += 1
        if self.failures >= self.limit:
            return None
        return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (self.failures - 1)))

    def give_up_message(self, last: str) -> str:
        """The one line the server ends with."""
        return (
            f"error: a worker failed {self.failures} times in a row, each within "
            f"{FAST_FAILURE_S:g} s of its start (CRASH_LOOP_LIMIT={self.limit}); giving up. "
            f"Last failure: {last}"
        )
