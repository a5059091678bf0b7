"""Results: the headline numbers against the issue's targets, a Markdown summary and a chart.

summary.py (with ratios.py and targets.py) computes the `summary` of the JSON; runs.py, ops.py
and extras.py write the Markdown's sections; bench/chart.py draws the chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from .. import chart
from .extras import ceiling, memory, proxy_lines, soak
from .ops import ops, signin_lines
from .runs import head, notes, runs_table, targets_table
from .summary import summarise

__all__ = ["markdown", "summarise", "write"]


def markdown(results: dict[str, Any]) -> str:
    """The run as Markdown: machine and load, targets, runs, notes, Redis ceiling and soak."""
    sections = (
        head,
        targets_table,
        runs_table,
        notes,
        ops,
        signin_lines,
        memory,
        proxy_lines,
        ceiling,
        soak,
    )
    return "\n".join(line for section in sections for line in section(results)) + "\n"


def write(results: dict[str, Any], out: Path, stamp: str, chart_too: bool = True) -> list[Path]:
    """Write <stamp>.json, <stamp>.md and (if matplotlib is installed) <stamp>.png."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stamp}.json", out / f"{stamp}.md"]
    paths[0].write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    paths[1].write_text(markdown(results))
    png = out / f"{stamp}.png"
    if chart_too and chart.draw(results, png):
        paths.append(png)
    elif chart_too:
        print("no chart: matplotlib is not installed (pip install -e '.[bench]')")
    return paths
