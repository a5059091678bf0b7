"""Reading /metrics in tests: samples by name and labels, and the metric names a scrape shows."""

from __future__ import annotations

import os
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PROJECT, Admin, boto_client

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_text(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 if it is absent (a counter not yet counted)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def names(text: str) -> set[str]:
    """The metric names as a query writes them: counters with _total, histograms bare."""
    out: set[str] = set()
    for family in text_string_to_metric_families(text):
        out.add(family.name + "_total" if family.type == "counter" else family.name)
    return out


def series_names(text: str) -> set[str]:
    """Every sample name (a histogram's _bucket, _sum and _count among them)."""
    return {name for name, _ in samples(text)}


DOC = PROJECT / "docs" / "metrics.md"
_NAME = re.compile(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`")


def documented(path: Path = DOC) -> dict[str, str]:
    """docs/metrics.md's table (name | type | labels | workers | meaning): metric name -> its
    `workers` column (any, 1 or >1)."""
    rows: dict[str, str] = {}
    for line in path.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5:
            continue
        m = _NAME.fullmatch(cells[0])
        if m and cells[1] in ("counter", "gauge", "histogram"):
            rows[m.group(1)] = cells[3].strip("`")
    return rows


def server_get_device(cognito: Any, token: str, device: str) -> str:
    try:
        cognito.get_device(AccessToken=token, DeviceKey=device)
        return "OK"
    except cognito.exceptions.ClientError as exc:
        return str(exc.response["Error"]["Code"])


def exercise(base: str, admin: Admin) -> None:
    """One of each kind of call, so every metric that only appears once counted shows."""
    cognito = boto_client(base)
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        cognito.initiate_auth(ClientId="nosuchclient", AuthFlow="USER_PASSWORD_AUTH")
    _, device, token = admin.user_with_device(f"doc{os.getpid()}{time.monotonic_ns()}")
    assert server_get_device(cognito, token, device) == "OK"
