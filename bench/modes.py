"""What each kind of traffic is: the wrk script and its arguments, the answers it may give, the
servers it runs on and how it is measured. `Bench.do_service` (bench/run.py) walks this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .plan import Plan
from .seed import Seed

OK = "OK"
THROTTLED = "TooManyRequestsException"


def _none(plan: Plan) -> dict[str, str]:
    return {}


def _throttle_service(plan: Plan) -> dict[str, str]:
    # With --throttle-user-rate: a service of its own whose bucket throttles at any speed, while
    # the other modes' rate is one no load reaches.
    if not plan.throttle_user_rate_per_s:
        return {}
    return {
        "USER_RATE_PER_S": f"{plan.throttle_user_rate_per_s:g}",
        "USER_BURST": str(plan.throttle_user_burst),
    }


@dataclass(frozen=True)
class Mode:
    """One kind of traffic."""

    script: str  # bench/wrk/<script>
    args: Callable[[Seed, Plan], tuple[str, ...]]  # the script's arguments
    allowed: frozenset[str]  # the answers it may give; anything else fails the run
    # The servers of a pass it runs on, in order: "baseline", "service", "proxy".
    servers: tuple[str, ...] = ("service",)
    # In turns: rounds alternate with the other in-turn runs of the pass, duration_s in all, so
    # a busy machine slows them alike. Otherwise one run of short_s.
    in_turns: bool = False
    # Service settings for a service of its own (empty: the pass's service).
    own_service: Callable[[Plan], dict[str, str]] = _none
    # Uses each token once: the pass ends by forgetting their cached claims.
    fresh_tokens: bool = False


MODES: dict[str, Mode] = {
    "warm": Mode(
        "warm.lua",
        lambda s, p: (str(s.warm_file),),
        frozenset({OK}),
        servers=("baseline", "service"),
        in_turns=True,
    ),
    # Warm traffic through nginx, in turns with the direct warm run it is compared with.
    "proxy": Mode(
        "warm.lua",
        lambda s, p: (str(s.warm_file),),
        frozenset({OK}),
        servers=("proxy",),
        in_turns=True,
    ),
    # Warm traffic at a fixed offered rate; the baseline too: aiohttp's own latency floor.
    "paced": Mode(
        "paced.lua",
        lambda s, p: (str(s.warm_file), f"{p.paced_rate:g}", str(p.connections)),
        frozenset({OK}),
        servers=("baseline", "service"),
    ),
    "throttle": Mode(
        "throttle.lua",
        lambda s, p: (str(s.hammer_file),),
        frozenset({OK, THROTTLED}),
        own_service=_throttle_service,
    ),
    "cold": Mode(
        "cold.lua",
        lambda s, p: (str(s.cold_file), str(p.threads)),
        frozenset({OK}),
        fresh_tokens=True,
    ),
    # Run by Bench.do_soak, on a service of its own, not in a pass.
    "soak": Mode(
        "soak.lua",
        lambda s, p: (str(s.soak_file), "80", "10"),
        frozenset({OK, THROTTLED, "NotAuthorizedException", "ResourceNotFoundException"}),
        servers=(),
    ),
}
