"""scripts/mutate's list (scripts/mutants.py) stays applicable: every bug's original text is in
its file exactly once, and every guard names a test that exists. The mutants themselves run in
`bash scripts/mutate` (after the suite, in scripts/test), not here."""

from __future__ import annotations

import ast
import sys

import pytest

from tests.conftest import PROJECT

sys.path.insert(0, str(PROJECT / "scripts"))
from mutants import MUTANTS
from mutate import ListError, patched


def test_every_mutant_applies_exactly_once() -> None:
    for mutant in MUTANTS:
        text = (PROJECT / mutant.file).read_text()
        assert patched(mutant, text) != text, mutant.name
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)


def test_a_mutant_that_no_longer_applies_is_an_error() -> None:
    mutant = MUTANTS[0]
    for text in ("", mutant.original * 2):
        with pytest.raises(ListError, match="no longer applies"):
            patched(mutant, text)


def test_every_guard_names_a_test_that_exists() -> None:
    for mutant in MUTANTS:
        for guard in mutant.guards:
            path, _, name = guard.partition("::")
            tree = ast.parse((PROJECT / path).read_text())
            names = {
                node.name
                for node in tree.body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            assert name in names, (mutant.name, guard)
