"""The docstring examples run through ``--doctest-modules``; nothing it skips may hold one."""

from __future__ import annotations

from pathlib import Path

from conftest import LAMBDA_HANDLERS

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_modules_doctest_collection_skips_hold_no_examples() -> None:
    skipped = sorted(REPO_ROOT.glob(LAMBDA_HANDLERS))

    assert skipped, f"{LAMBDA_HANDLERS} matches no module"
    assert [path.name for path in skipped if ">>>" in path.read_text()] == []
