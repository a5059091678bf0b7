"""What a seed is asked for (SeedPlan, checked by check()), what it reports (SeedResult), and
the shape of its output lines."""

from __future__ import annotations

from dataclasses import dataclass

from ..store import admin_input

# Users per chunk: one pipelined round trip of this many scripts, then their tokens.
CHUNK = 500
# Devices per user that one seed may ask for (each is a key of the user's one script).
MAX_DEVICES = 100
FORMATS = ("jsonl", "csv")
COLUMNS = ("username", "sub", "device_keys", "access_token", "refresh_token")


@dataclass(frozen=True)
class SeedPlan:
    """What to seed: users `<prefix>-000001` ... `<prefix>-<users>`, K devices each."""

    redis_url: str
    pool_id: str
    prefix: str
    users: int
    devices: int
    tokens: bool = False
    ttl_s: int = 3600
    fmt: str = "jsonl"
    ip: str = "127.0.0.1"

    def username(self, i: int) -> str:
        return f"{self.prefix}-{i:06d}"


@dataclass(frozen=True)
class SeedResult:
    users: int
    created_users: int  # the rest already existed and were reused
    created_devices: int
    tokens: int  # access tokens minted (as many refresh tokens with them)
    seconds: float


def check(plan: SeedPlan) -> None:
    """Every input of a seed, with the model's constraints (InvalidInput)."""
    admin_input.pool_id(plan.pool_id)
    if plan.users < 1:
        raise admin_input.InvalidInput(f"--users must be at least 1, not {plan.users}")
    if not 0 <= plan.devices <= MAX_DEVICES:
        raise admin_input.InvalidInput(f"--devices must be 0 to {MAX_DEVICES}, not {plan.devices}")
    if plan.fmt not in FORMATS:
        raise admin_input.InvalidInput(f"--format must be one of {', '.join(FORMATS)}")
    admin_input.ttl_s(plan.ttl_s)
    admin_input.ip(plan.ip)
    # The first and the last name: the longest, and every character the others have.
    admin_input.username(plan.username(1))
    admin_input.username(plan.username(plan.users))


def header(fmt: str) -> bytes:
    """The output's first line: CSV's header row (JSON lines have none)."""
    return (",".join(COLUMNS) + "\n").encode() if fmt == "csv" else b""
