"""Each worker's process metrics (CPU, memory, descriptors) when WORKERS > 1.

prometheus-client's multiprocess mode sums values that workers write to files, and cannot sum a
process's CPU or memory, so it exposes none. Instead each worker writes its pid to a file
(`worker_<n>.pid`, n = its slot, 1..WORKERS) and the worker that answers a scrape reads
/proc for every live worker and for the supervisor (prometheus-client's own ProcessCollector,
pointed at each pid), labelling each series `worker` = "1".."N" or "supervisor": bounded by
WORKERS, not by pids, which change on every restart. Cost: one /proc read per process per
scrape, nothing on the request path.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

_SUFFIX = ".pid"
_PREFIX = "worker_"


def _path(directory: str, number: int) -> str:
    return os.path.join(directory, f"{_PREFIX}{number}{_SUFFIX}")


def announce(directory: str, number: int) -> None:
    """Record this process as worker `number` (replacing the slot's previous process)."""
    path = _path(directory, number)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(tmp, path)  # atomic: a scrape never reads half a pid


def forget(directory: str, number: int, pid: int) -> None:
    """The supervisor saw worker `number` (`pid`) die: drop its file unless a successor wrote it."""
    path = _path(directory, number)
    with contextlib.suppress(OSError, ValueError):
        with open(path) as fh:
            if int(fh.read()) != pid:
                return
        os.unlink(path)


def _workers(directory: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for name in sorted(os.listdir(directory)):
        if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
            continue
        with contextlib.suppress(OSError, ValueError), open(os.path.join(directory, name)) as fh:
            found.append((name[len(_PREFIX) : -len(_SUFFIX)], int(fh.read())))
    return found


class WorkerProcesses(Collector):
    """process_* of the supervisor and every worker, labelled `worker`."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        processes = [("supervisor", os.getppid()), *_workers(self.directory)]
        merged: dict[str, Metric] = {}
        for worker, pid in processes:
            # registry=None: read once here, never registered anywhere.
            collector = ProcessCollector(pid=functools.partial(int, pid), registry=None)
            for family in collector.collect():
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(
                        family.name, family.documentation, family.type
                    )
                for sample in family.samples:
                    into.add_sample(sample.name, {**sample.labels, "worker": worker}, sample.value)
        return list(merged.values())
