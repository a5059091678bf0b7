"""`python -m bench.srpload URL SIGNIN_TSV`: SRP sign-ins under load, for the `srp` mode.

Each sign-in is two round trips, as an SDK makes them: InitiateAuth USER_SRP_AUTH (SRP_A), then
RespondToAuthChallenge PASSWORD_VERIFIER (the proof). The client side is pycognito's AWSSRP, an
implementation independent of the service's (service/credentials/srp.py), and is computed for each
sign-in while the clock runs (a fresh `a` and A, then S, the key and the signature from the server's
SALT, SRP_B and SECRET_BLOCK): nothing is computed ahead. That client math costs more CPU than
the server's (pycognito's `a` has 1024 bits), so it runs in `--procs` processes, each an asyncio
loop with aiohttp; load goes to 127.0.0.1 only.

Prints one `BENCH_JSON {...}` line in the shape bench/wrk/common.lua's done() prints, counting
*sign-ins* (a sign-in is OK when the second answer carries AuthenticationResult; otherwise it
counts under the failing answer's __type), so that the harness's per-request figures are per
sign-in; `extra.http_requests` counts the round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from pycognito.aws_srp import AWSSRP

MARKER = "BENCH_JSON "
TARGET = "AWSCognitoIdentityProviderService."


class _NoBoto:
    """AWSSRP wants a boto3 client; it is never called here (the HTTP calls are ours)."""


async def _call(
    http: aiohttp.ClientSession, url: str, operation: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + operation}
    async with http.post(url, data=orjson.dumps(body), headers=headers) as response:
        raw = await response.read()
        return response.status, orjson.loads(raw) if raw else {}


def _kind(status: int, body: dict[str, Any]) -> str:
    return str(body.get("__type") or f"HTTP_{status}")


async def _sign_in(http: aiohttp.ClientSession, url: str, row: list[str]) -> str:
    """One SRP sign-in of `row`'s user: "OK" or what went wrong."""
    pool_id, client_id, username, password = row[:4]
    client = AWSSRP(username, password, pool_id, client_id, client=_NoBoto())
    params = client.get_auth_params()
    body = {"AuthFlow": "USER_SRP_AUTH", "ClientId": client_id, "AuthParameters": params}
    status, first = await _call(http, url, "InitiateAuth", body)
    if status != 200 or first.get("ChallengeName") != "PASSWORD_VERIFIER":
        return _kind(status, first) if status != 200 else "NO_CHALLENGE"
    answers = client.process_challenge(first["ChallengeParameters"], params)
    body = {
        "ChallengeName": "PASSWORD_VERIFIER",
        "ClientId": client_id,
        "ChallengeResponses": answers,
    }
    if "Session" in first:
        body["Session"] = first["Session"]
    status, second = await _call(http, url, "RespondToAuthChallenge", body)
    if status != 200:
        return _kind(status, second)
    result = second.get("AuthenticationResult") or {}
    return "OK" if result.get("AccessToken") and result.get("IdToken") else "NO_TOKENS"


async def _drive(
    url: str, rows: list[list[str]], seconds: float, concurrency: int, seed: int
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    sent = 0
    first = last = 0.0
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:

        async def loop(i: int) -> None:
            nonlocal sent, first, last
            n = i
            while time.monotonic() < deadline:
                row = rows[(n * 7919 + seed) % len(rows)]
                n += concurrency
                sent += 1
                started = time.monotonic()
                first = first or started
                try:
                    kind = await _sign_in(http, url, row)
                except TimeoutError:
                    errors["timeout"] += 1
                    continue
                except aiohttp.ClientConnectionError:
                    errors["connect"] += 1
                    continue
                last = time.monotonic()
                latencies.append(last - started)
                counts[kind] = counts.get(kind, 0) + 1

        await asyncio.gather(*(loop(i) for i in range(concurrency)))
    return {
        "counts": counts,
        "latencies": latencies,
        "errors": errors,
        "sent": sent,
        "first": first,
        "last": last,
    }


def _process(url: str, rows: list[list[str]], seconds: float, concurrency: int, seed: int) -> Any:
    return asyncio.run(_drive(url, rows, seconds, concurrency, seed))


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.srpload", description=__doc__)
    p.add_argument("url", help="the service, on 127.0.0.1")
    p.add_argument("signin_file", help="pool, client, username, password[, refresh] per line")
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=16, help="sign-ins in flight in all")
    p.add_argument("--procs", type=int, default=2)
    args = p.parse_args(argv)
    host = urlsplit(args.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        p.error("load goes to the loopback only")
    with open(args.signin_file) as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    procs = max(1, min(args.procs, args.connections))
    shares = [args.connections // procs + (i < args.connections % procs) for i in range(procs)]
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=procs, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_process, args.url.rstrip("/") + "/", rows, args.duration, c, i)
            for i, c in enumerate(shares)
        ]
        parts = [f.result() for f in futures]
    answers: dict[str, int] = {}
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    latencies: list[float] = []
    for part in parts:
        for k, v in part["counts"].items():
            answers[k] = answers.get(k, 0) + v
        for k, v in part["errors"].items():
            errors[k] += v
        latencies += part["latencies"]
    done = len(latencies)
    firsts = [x["first"] for x in parts if x["first"]]
    lasts = [x["last"] for x in parts if x["last"]]
    span = (max(lasts) - min(firsts)) if firsts and lasts else time.monotonic() - started
    us = [x * 1e6 for x in latencies]
    out = {
        "requests": done,
        "duration_us": span * 1e6,
        "bytes": 0,
        "socket_errors": errors,
        "latency_us": {
            "min": min(us, default=0.0),
            "max": max(us, default=0.0),
            "mean": sum(us) / len(us) if us else 0.0,
            "stdev": 0.0,
            **{k: _percentile(us, q) for k, q in (("p50", 50), ("p90", 90), ("p99", 99))},
            "p999": _percentile(us, 99.9),
        },
        "answers": answers,
        "extra": {
            "sent": sum(x["sent"] for x in parts),
            "http_requests": 2 * done,
            "procs": procs,
        },
    }
    sys.stdout.write(MARKER + orjson.dumps(out).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
