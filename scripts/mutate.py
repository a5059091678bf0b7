"""Put each bug of scripts/mutants.py into the working tree, one at a time, run only the tests
that guard it, put the file back, and fail unless every bug was caught ("killed").

A hand-written list, not mutmut or cosmic-ray. Both generate mutants of Python source only, and
most of these checks live in the Lua scripts (the bucket, the session, sign-out, refresh
rotation). Both mutate every site they find: cosmic-ray turns each comparison into each other
comparison, each number and boolean into others, so one module of a few hundred lines is
hundreds of pytest runs, hours for the modules here, not the few minutes CI can spend. mutmut 3
runs the code from its own copy of the tree (mutants/), which the live server, started in a
subprocess from this checkout's editable install, never imports. What is wanted is narrower and
stronger: named security checks, each broken as a careless edit would break it, each with the
tests that must catch it.

The file is written back from the bytes read before the patch, in a `finally` (failures,
timeouts, Ctrl-C), and `git diff --quiet` must then agree that it is unchanged. Listed files with
uncommitted changes are refused up front: their restored state could not be checked.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parent.parent
# One mutant's guards take 3-15 s; a bug that hangs the service is caught by pytest-timeout's
# 120 s per test first. This bounds the whole pytest run.
TIMEOUT_S = 300


class ListError(Exception):
    """The list or the tree is not fit to run: an entry no longer applies, or a file is dirty."""


@dataclass
class Outcome:
    mutant: Mutant
    verdict: str  # "killed", "SURVIVED", "TIMEOUT" (counted as killed) or "ERROR"
    seconds: float
    detail: str  # the first failing test, or why it is an error


def patched(mutant: Mutant, text: str) -> str:
    count = text.count(mutant.original)
    if count != 1:
        raise ListError(
            f"{mutant.name!r} no longer applies: its original text occurs {count} times in "
            f"{mutant.file}, not once:\n    {mutant.original!r}"
        )
    return text.replace(mutant.original, mutant.replacement)


def check_list(mutants: tuple[Mutant, ...]) -> None:
    """Every entry applies and every listed file is clean, before anything is run."""
    files = sorted({m.file for m in mutants})
    dirty = [f for f in files if not _clean(f)]
    if dirty:
        raise ListError(f"uncommitted changes in {', '.join(dirty)}: commit or undo them first")
    for mutant in mutants:
        patched(mutant, (ROOT / mutant.file).read_text())
        if not mutant.guards:
            raise ListError(f"{mutant.name!r} has no guarding tests")


def _clean(file: str) -> bool:
    done = subprocess.run(["git", "diff", "--quiet", "--", file], cwd=ROOT, stderr=subprocess.PIPE)
    if done.returncode not in (0, 1):  # not a checkout, or git refuses it: nothing can be checked
        raise ListError(f"git diff failed: {done.stderr.decode().strip()}")
    return done.returncode == 0


def pytest_command(guards: tuple[str, ...], k: str | None) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "--no-header", "-p", "no:cacheprovider"]
    return command + (["-k", k] if k else []) + list(guards)


def run(command: list[str]) -> tuple[int | None, str]:
    """pytest's exit status (None on timeout) and output. It runs in its own process group, so a
    timeout or Ctrl-C ends it with the Redis and servers it started."""
    # No .pyc of a mutant is written: a restored file must never be shadowed by one.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        _stop(proc)
        return None, proc.communicate()[0]
    except BaseException:
        _stop(proc)
        raise


def _stop(proc: subprocess.Popen[str]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def first_failure(out: str) -> str:
    for line in out.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 1)[1].split(" - ", 1)[0]
    return ""


def try_mutant(mutant: Mutant) -> Outcome:
    path = ROOT / mutant.file
    original = path.read_bytes()
    started = time.monotonic()
    try:
        path.write_bytes(patched(mutant, original.decode()).encode())
        status, out = run(pytest_command(mutant.guards, mutant.k))
    finally:
        path.write_bytes(original)
        if not _clean(mutant.file):
            raise ListError(f"{mutant.file} was not restored: see `git diff`")
    seconds = time.monotonic() - started
    if status is None:
        return Outcome(mutant, "TIMEOUT", seconds, f"pytest ran past {TIMEOUT_S} s")
    if status == 0:
        return Outcome(mutant, "SURVIVED", seconds, "every guard passed with the bug in")
    if status == 1:  # tests failed: the bug was caught
        return Outcome(mutant, "killed", seconds, first_failure(out))
    # 2-5: interrupted, internal error, usage error, nothing collected (a guard's id rotted).
    tail = "\n".join(out.splitlines()[-15:])
    return Outcome(mutant, "ERROR", seconds, f"pytest exited {status}:\n{tail}")


def baseline(mutants: tuple[Mutant, ...]) -> None:
    """Every guard passes without any bug in: a failure with the bug in then means the bug."""
    for k in sorted({m.k or "" for m in mutants}):
        guards = tuple(dict.fromkeys(g for m in mutants if (m.k or "") == k for g in m.guards))
        status, out = run(pytest_command(guards, k or None))
        if status != 0:
            tail = "\n".join(out.splitlines()[-20:])
            raise ListError(f"the guards fail without any bug in (pytest exited {status}):\n{tail}")


def table(outcomes: list[Outcome]) -> str:
    width = max(len(o.mutant.name) for o in outcomes)
    where = max(len(o.mutant.file) for o in outcomes)
    rows = [f"{'bug':<{width}}  {'file':<{where}}  {'result':<8}  {'s':>5}  caught by"]
    for o in outcomes:
        detail = o.detail if o.verdict in ("killed", "TIMEOUT") else o.detail.splitlines()[0]
        rows.append(
            f"{o.mutant.name:<{width}}  {o.mutant.file:<{where}}  {o.verdict:<8}  "
            f"{o.seconds:5.1f}  {detail}"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only the mutants whose name contains these")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the run of every guard without a bug (scripts/test: the suite just passed)",
    )
    args = parser.parse_args()
    mutants = tuple(m for m in MUTANTS if not args.names or any(n in m.name for n in args.names))
    if not mutants:
        parser.error("no mutant matches")
    if args.list:
        for m in mutants:
            print(f"{m.name}  ({m.file})")
        return 0
    # A CI job's timeout sends SIGTERM: as SystemExit it unwinds through the restoring `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    started = time.monotonic()
    outcomes = []
    try:
        check_list(mutants)
        if not args.no_baseline:
            baseline(mutants)
        for i, mutant in enumerate(mutants, 1):
            outcome = try_mutant(mutant)
            progress = f"[{i}/{len(mutants)}] {outcome.verdict:<8} {outcome.seconds:5.1f} s"
            print(f"{progress}  {mutant.name}", flush=True)
            outcomes.append(outcome)
    except ListError as error:
        print(f"mutate: {error}", file=sys.stderr)
        return 2
    print()
    print(table(outcomes))
    bad = [o for o in outcomes if o.verdict in ("SURVIVED", "ERROR")]
    for o in bad:
        print(f"\n{o.verdict}: {o.mutant.name} ({o.mutant.file})\n{o.detail}", file=sys.stderr)
    killed = len(outcomes) - len(bad)
    print(
        f"\n{killed} of {len(outcomes)} bugs killed, {len(bad)} not, "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
