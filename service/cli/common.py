"""What every CLI command shares: the pool it works on, and how it prints JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from ..runtime.settings import Settings


def emit(obj: Any) -> None:
    """Print `obj` as indented JSON on stdout, one trailing newline."""
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


def pool_id_arg(args: argparse.Namespace, settings: Settings) -> str:
    """The command's --pool-id (or POOL_ID), else the default pool."""
    return getattr(args, "pool_id", None) or settings.default_pool_id
