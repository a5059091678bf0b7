"""What each kind of traffic is: the wrk script and its arguments, the answers it may give, the
servers it runs on and how it is measured. `run_pass` (bench/passes.py) walks this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .plan import Plan
from .seed import Seed

OK = "OK"
THROTTLED = "TooManyRequestsException"
# The mixed mode's shares, in %: GetDevice, ListDevices; the rest is UpdateDeviceStatus.
MIXED_GET_PCT = 60
MIXED_LIST_PCT = 30
# The modes of access-token operations whose warm requests must each be one Redis command.
# The sign-in modes: InitiateAuth (and, for srp, RespondToAuthChallenge); a request is a sign-in.
SIGNIN_MODES = ("password", "refresh", "srp")
TOKEN_OP_MODES = (
    "warm",
    "c10",
    "list",
    "update",
    "mixed",
    "scale",
    "scale-base",
    "confirm",
    "forget",
    "signout",
)


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
    # Each request uses up its row (a token, a device, a user): rate over the busy span.
    consumes: bool = False
    # Runs in the first pass only (the first worker count): what it uses up is not seeded
    # again, and the other passes are about workers.
    first_pass_only: bool = False
    # wrk connections (None: --connections).
    connections: Callable[[Plan], int] | None = None
    # A service worker of its own for the pass, shared with the modes naming the same one
    # (None: the pass's service). It warms up with its modes' traffic, in this table's order.
    worker: str | None = None
    # Not asked for by name: runs whenever this mode runs (it is that mode's ratio's divisor).
    runs_with: str | None = None


MODES: dict[str, Mode] = {
    "warm": Mode(
        "warm.lua",
        lambda s, p: (str(s.warm_file),),
        frozenset({OK}),
        servers=("baseline", "service"),
        in_turns=True,
    ),
    # Warm GetDevice over --scale-tokens distinct tokens (40,000: more than the worker's
    # token -> route cache holds), against warm GetDevice over one token per user on the same
    # worker (scale-base, the next run of each round). That worker serves those two alone and
    # warms up with both, scale first: no round of either fills its route cache, and neither
    # meets what other modes leave in a worker (warm's, shared with list, update and mixed,
    # holds their answers' memos; against the baseline it measured 0.90 in round 1 and 0.84
    # after, over three full runs). Sharing warm's worker instead, without its own warm-up,
    # scale's first round also filled the cache: over 15 runs of 3 rounds, the first averaged
    # 0.88 of warm, the next two 0.97 and 0.93.
    "scale": Mode(
        "warm.lua",
        lambda s, p: (str(s.scale_file),),
        frozenset({OK}),
        in_turns=True,
        first_pass_only=True,
        worker="scale",
    ),
    "scale-base": Mode(
        "warm.lua",
        lambda s, p: (str(s.warm_file),),
        frozenset({OK}),
        in_turns=True,
        first_pass_only=True,
        worker="scale",
        runs_with="scale",
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
        consumes=True,
    ),
    # The other access-token operations, warm (every token's claims cached), in turns with
    # warm GetDevice: each one's throughput is a same-run ratio to GetDevice's.
    # ListDevices of users with 60 remembered devices (a full page).
    "list": Mode(
        "list.lua",
        lambda s, p: (str(s.list_file),),
        frozenset({OK}),
        in_turns=True,
        first_pass_only=True,
    ),
    "update": Mode(
        "update.lua",
        lambda s, p: (str(s.warm_file),),
        frozenset({OK}),
        in_turns=True,
        first_pass_only=True,
    ),
    # An app's session: mostly GetDevice and ListDevices (each user's own few devices), some
    # UpdateDeviceStatus.
    "mixed": Mode(
        "mixed.lua",
        lambda s, p: (str(s.warm_file), str(MIXED_GET_PCT), str(MIXED_LIST_PCT)),
        frozenset({OK}),
        in_turns=True,
        first_pass_only=True,
    ),
    # Warm GetDevice, and the baseline, at --low-connections (10).
    "c10": Mode(
        "warm.lua",
        lambda s, p: (str(s.warm_file),),
        frozenset({OK}),
        servers=("baseline", "service"),
        in_turns=True,
        first_pass_only=True,
        connections=lambda p: p.low_connections,
    ),
    # Operations that use up what they act on: each request its own device or user, seeded
    # for it (confirm before forget: forget then removes the devices confirm confirmed).
    "confirm": Mode(
        "consume.lua",
        lambda s, p: (str(s.spare_file), str(p.threads), "confirm", str(s.warm_file)),
        frozenset({OK}),
        consumes=True,
        first_pass_only=True,
    ),
    "forget": Mode(
        "consume.lua",
        lambda s, p: (str(s.spare_file), str(p.threads), "forget", str(s.warm_file)),
        frozenset({OK}),
        consumes=True,
        first_pass_only=True,
    ),
    "signout": Mode(
        "consume.lua",
        lambda s, p: (str(s.signout_file), str(p.threads), "signout", str(s.warm_file)),
        frozenset({OK}),
        consumes=True,
        first_pass_only=True,
    ),
    # Sign-ins (InitiateAuth) of the seeded sign-in users, one round trip each: the password
    # (USER_PASSWORD_AUTH), or the user's refresh token (REFRESH_TOKEN_AUTH).
    "password": Mode(
        "signin.lua",
        lambda s, p: (str(s.signin_file), "password"),
        frozenset({OK}),
    ),
    "refresh": Mode(
        "signin.lua",
        lambda s, p: (str(s.signin_file), "refresh"),
        frozenset({OK}),
    ),
    # SRP sign-ins, two round trips each (USER_SRP_AUTH, then PASSWORD_VERIFIER), from a Python
    # load generator whose client math is pycognito's (bench/srpload.py): "requests" are
    # sign-ins.
    "srp": Mode(
        "bench.srpload",
        lambda s, p: (str(s.signin_file), "--procs", str(p.srp_procs)),
        frozenset({OK}),
        connections=lambda p: p.srp_connections,
    ),
    # Run by bench/phases.py's soak, on a service of its own, not in a pass.
    "soak": Mode(
        "soak.lua",
        lambda s, p: (str(s.soak_file), "80", "10"),
        frozenset({OK, THROTTLED, "NotAuthorizedException", "ResourceNotFoundException"}),
        servers=(),
    ),
}
