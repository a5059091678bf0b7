"""A bounded soak with periodic Redis restarts: `python -m bench.fault_soak [--seconds 120]`.

Mixed traffic (valid, invalid token, unknown device, one hammered user) runs against a live
1-worker service while its Redis (AOF on, so nothing acknowledged is lost) is stopped and started
again every --restart-every seconds. Every answer is checked against what its request class
allows; InternalErrorException is allowed only inside an unavailable window (from a stop to the
first success after the restart), and every window is reported with its length and its 500s.
The run fails on any wrong answer or any 500 outside a window. Loopback only; it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.procs import Children, free_port, wait_http
from bench.redisd import RedisProcess
from service import store
from service.redis_io import connect
from service.runtime.settings import Settings

TARGET = "AWSCognitoIdentityProviderService.GetDevice"
HEADERS = {"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"}
ALLOWED = {
    "valid": {"OK", "TooManyRequestsException"},
    "bad_token": {"NotAuthorizedException"},
    "no_device": {"ResourceNotFoundException", "TooManyRequestsException"},
    "hammer": {"OK", "TooManyRequestsException"},
}


@dataclass
class Answer:
    kind: str
    started: float
    ended: float
    type_name: str
    wrong: str = ""


@dataclass
class Window:
    stopped: float
    started: float = 0.0
    first_ok: float = 0.0
    errors: int = 0


@dataclass
class Plan:
    people: list[tuple[str, str, str, str]] = field(default_factory=list)  # user, pool, device, tok


async def _seed(url: str, settings: Settings, users: int) -> Plan:
    r = connect.admin_client(url, 10)
    plan = Plan()
    try:
        await store.ensure_default_pool(r, settings)
        pool = settings.default_pool_id
        mint = await store.token_minter(r, pool)
        for i in range(users):
            user = await store.create_user(r, pool, f"soak{i:04d}")
            device = (await store.add_device(r, user, name="phone"))["key"]
            plan.people.append((user.username, pool, device, mint(user)))
    finally:
        await r.aclose()
    return plan


async def _traffic(
    url: str, plan: Plan, seconds: float, concurrency: int, answers: list[Answer]
) -> None:
    rng = random.Random(5)
    deadline = time.monotonic() + seconds
    hammer = plan.people[0]

    def request() -> tuple[str, tuple[str, str, str, str], bytes]:
        roll = rng.random()
        if roll < 0.1:
            person, kind = hammer, "hammer"
        else:
            person, kind = rng.choice(plan.people[1:]), "valid"
        _, _, device, token = person
        if roll > 0.9:
            kind, token = "bad_token", token[:-4] + "AAAA"
        elif roll > 0.8:
            kind, device = "no_device", device[:-4] + "0000"
        body = json.dumps({"AccessToken": token, "DeviceKey": device}).encode()
        return kind, person, body

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            kind, person, body = request()
            started = time.monotonic()
            try:
                async with session.post(url, data=body, headers=HEADERS) as resp:
                    status, payload = resp.status, await resp.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError) as exc:
                answers.append(Answer(kind, started, time.monotonic(), "client-error", str(exc)))
                continue
            type_name = "OK" if status == 200 else str(payload.get("__type"))
            answer = Answer(kind, started, time.monotonic(), type_name)
            if type_name == "OK":
                # Device keys are unique to their user: the key says whose answer this is
                # (user calls show no owner attribute).
                if payload["Device"]["DeviceKey"] != person[2]:
                    answer.wrong = "answer for another request"
            elif type_name not in ALLOWED[kind] and type_name != "InternalErrorException":
                answer.wrong = f"{type_name} for a {kind} request"
            answers.append(answer)

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


def _account(answers: list[Answer], windows: list[Window]) -> dict[str, Any]:
    """Which 500s fall in an unavailable window, and how long each window lasted."""
    oks = sorted(a.ended for a in answers if a.type_name == "OK")
    for w in windows:
        w.first_ok = next((t for t in oks if t > w.started), float("inf"))
    stray = 0
    for a in answers:
        if a.type_name != "InternalErrorException":
            continue
        hit = next((w for w in windows if a.ended >= w.stopped and a.started <= w.first_ok), None)
        if hit is None:
            stray += 1
        else:
            hit.errors += 1
    by_type: dict[str, int] = {}
    for a in answers:
        by_type[a.type_name] = by_type.get(a.type_name, 0) + 1
    return {
        "answers": len(answers),
        "by_type": dict(sorted(by_type.items())),
        "wrong": [f"{a.kind}: {a.wrong}" for a in answers if a.wrong][:20],
        "wrong_count": sum(1 for a in answers if a.wrong),
        "internal_errors_outside_windows": stray,
        "windows": [
            {
                "redis_down_s": round(w.started - w.stopped, 3),
                "unavailable_s": round(w.first_ok - w.stopped, 3),
                "internal_errors": w.errors,
            }
            for w in windows
        ],
    }


async def _restarts(
    redis_proc: RedisProcess, seconds: float, every: float, windows: list[Window]
) -> None:
    deadline = time.monotonic() + seconds - every / 2
    while True:
        await asyncio.sleep(every)
        if time.monotonic() > deadline:
            return
        window = Window(stopped=time.monotonic())
        await asyncio.to_thread(redis_proc.stop)
        await asyncio.sleep(0.5)  # a real outage, not only a reconnect
        await asyncio.to_thread(redis_proc.start)
        window.started = time.monotonic()
        windows.append(window)


def run(seconds: float, every: float, users: int, concurrency: int, out: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cgd-faultsoak-"))
    children = Children(work)
    try:
        redis_proc = RedisProcess(children, work)
        redis_proc.start()
        settings = Settings.from_env(
            {}, redis_url=redis_proc.url, data_dir=str(work), redis_timeout_s=0.5
        )
        plan = asyncio.run(_seed(redis_proc.url, settings, users))
        port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis_proc.url,
            "DATA_DIR": str(work),
            "DEMO": "false",
            "REDIS_TIMEOUT_S": "0.5",
            "USER_RATE_PER_S": "50",
            "USER_BURST": "50",
            "LOG_LEVEL": "CRITICAL",
        }
        service = children.start(
            "service", [sys.executable, "-m", "service", "serve", "--port", str(port)], env
        )
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/readyz", 30, service)
        rss_before = psutil.Process(service.pid).memory_info().rss
        answers: list[Answer] = []
        windows: list[Window] = []

        async def main() -> None:
            await asyncio.gather(
                _traffic(base + "/", plan, seconds, concurrency, answers),
                _restarts(redis_proc, seconds, every, windows),
            )

        asyncio.run(main())
        rss_after = psutil.Process(service.pid).memory_info().rss
        result = _account(answers, windows)
        result.update(
            seconds=seconds,
            restart_every_s=every,
            users=users,
            concurrency=concurrency,
            rss_mib_before=round(rss_before / 2**20, 1),
            rss_mib_after=round(rss_after / 2**20, 1),
            ok=result["wrong_count"] == 0 and result["internal_errors_outside_windows"] == 0,
        )
    finally:
        children.stop_all()
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out / f"{stamp}-faultsoak.json").write_text(json.dumps(result, indent=2))
    (out / f"{stamp}-faultsoak.md").write_text(summary(result))
    return result


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"# Fault soak: {result['seconds']:g} s, Redis restarted every "
        f"{result['restart_every_s']:g} s",
        "",
        f"- answers: {result['answers']:,}; by type: {result['by_type']}",
        f"- wrong answers: {result['wrong_count']}; InternalErrorException outside an "
        f"unavailable window: {result['internal_errors_outside_windows']}",
        f"- service RSS: {result['rss_mib_before']} MiB -> {result['rss_mib_after']} MiB",
        "",
        "| window | Redis down s | unavailable s (stop -> first success) | 500s |",
        "|---:|---:|---:|---:|",
    ]
    for i, w in enumerate(result["windows"], 1):
        lines.append(
            f"| {i} | {w['redis_down_s']} | {w['unavailable_s']} | {w['internal_errors']} |"
        )
    lines.append("")
    lines.append("PASS" if result["ok"] else "FAIL")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fault_soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=120, help="traffic duration (120)")
    parser.add_argument("--restart-every", type=float, default=20, help="seconds (20)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.restart_every, args.users, args.concurrency, args.out)
    sys.stdout.write(summary(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
