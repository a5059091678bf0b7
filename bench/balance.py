"""`python -m bench.balance`: how evenly N workers share GetDevice load, and its throughput.

Starts `python -m service serve --workers N` on 127.0.0.1 with its embedded Redis (the banner's
demo token and device are the request), then runs wrk twice, each bounded by `--duration`:
keep-alive (wrk's `-c` connections, opened at once at the start, as a proxy's upstream pool
would) and one connection per request (`Connection: close`, where every request is an accept).
Requests per worker come from each worker's own metrics file (prometheus-client's multiprocess
files, `counter_<pid>.db`), as a delta over the run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.mmap_dict import MmapedDict

from .loadgen import find_wrk
from .procs import Children, wait_http, wait_line
from .redisd import start_redis

PROJECT = Path(__file__).resolve().parent.parent

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "AWSCognitoIdentityProviderService.GetDevice"
%s
wrk.body = '{"AccessToken":"%s","DeviceKey":"%s"}'
"""


def _worker_pids(root: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(root)], capture_output=True, text=True, check=False)
    pids = []
    for pid in map(int, out.stdout.split()):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            pass
    return sorted(pids)


def _served(pid: int) -> float:
    """Requests `pid` has answered, from its metrics file (flushed every 0.5 s)."""
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    directory = next(e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"PROMETHEUS_"))
    path = os.path.join(directory, f"counter_{pid}.db")
    if not os.path.exists(path):
        return 0.0
    total = 0.0
    for key, value, *_ in MmapedDict.read_all_values_from_file(path):  # type: ignore[no-untyped-call]
        if orjson.loads(key)[1] == "cognito_requests_total":
            total += value
    return total


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process `pid` holds open (Linux /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _connections(pid: int, port: int) -> int:
    """How many connections to `port` worker `pid` holds open (has accepted)."""
    inodes = socket_inodes(pid)
    count = 0
    with open(f"/proc/{pid}/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            count += int(local.split(":")[1], 16) == port and state == "01" and inode in inodes
    return count


def _wrk(
    wrk: str, url: str, script: str, args: argparse.Namespace, pids: list[int] | None = None
) -> float:
    """wrk's req/s; with `pids`, prints how many connections each worker holds half-way."""
    cmd = [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration}s", "-s", script, url]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        if pids:
            time.sleep(args.duration / 2)
            port = int(url.rsplit(":", 1)[1])
            print(f"  connections per worker: {[_connections(p, port) for p in pids]}")
        out, _ = proc.communicate(timeout=args.duration + 30)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if errors:
        print("  wrk:", errors.group(0))
    return float(found.group(1)) if found else 0.0


def measure(args: argparse.Namespace) -> dict[str, Any]:
    wrk = find_wrk(install=False)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cgd-balance-") as tmp:
        children = Children(Path(tmp))
        try:
            redis = start_redis(children, Path(tmp))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "WORKERS"))}
            env.update(
                REDIS_URL=redis.url,
                DATA_DIR=tmp,
                USER_RATE_PER_S="1000000",
                USER_BURST="1000000",
                LOG_LEVEL="WARNING",
            )
            serve = [sys.executable, "-m", "service", "serve", "--port", "0"]
            proc = children.start(
                "service", [*serve, "--workers", str(args.workers)], env=env, cwd=PROJECT
            )
            url = wait_line(children, "service", proc, r"on (http://\S+)", 60).group(1)
            device, token = wait_line(
                children, "service", proc, r"--device-key (\S+) --access-token (\S+)", 60
            ).groups()
            wait_http(url + "/readyz", 60, proc)
            deadline = time.monotonic() + 60
            while len(_worker_pids(proc.pid)) < args.workers and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(3)  # every worker has finished starting
            pids = _worker_pids(proc.pid)
            for name, header in (
                ("keep-alive", ""),
                ("close", 'wrk.headers["Connection"] = "close"'),
            ):
                script = os.path.join(tmp, f"{name}.lua")
                Path(script).write_text(LUA % (header, token, device))
                _wrk(wrk, url, script, argparse.Namespace(**{**vars(args), "duration": 1}))
                time.sleep(1)
                before = [_served(pid) for pid in pids]
                rps = _wrk(wrk, url, script, args, pids if not header else None)
                time.sleep(1.2)  # every worker has flushed its counts
                after = [_served(pid) for pid in pids]
                per = [int(a - b) for a, b in zip(after, before, strict=True)]
                results[name] = {"rps": round(rps), "per_worker": per}
                print(f"  {name}: {rps:,.0f} req/s, per worker {per}", flush=True)
        finally:
            children.stop_all()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.rounds):
        measure(args)


if __name__ == "__main__":
    main()
