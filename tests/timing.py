"""How late a loaded machine may be, for the tests that time a timeout.

A test that checks a timeout bounds the call by that timeout plus LATE_S, and makes whatever the
timeout cuts short (a paused Redis, a body that never comes) last longer than that bound, so that
the assertion fails if the timeout were not applied. LATE_S is what the CI machine (2 cores,
shared with other suites) may add: a process or an event loop kept off the CPU, a Python
interpreter starting or exiting. Bounds of 2-3x a 0.3-0.5 s timeout (0.5-1 s of slack) were too
thin there.
"""

from __future__ import annotations

LATE_S = 2.5
