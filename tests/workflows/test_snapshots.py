"""Golden snapshots: every workflow of the stack, rendered, equals its reviewed .asl.json file.

A change to a workflow shows up as a diff of its snapshot in review. To accept a deliberate change,
regenerate with ``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/workflows/test_snapshots.py`` and
review the diff; without the variable any mismatch fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from stack.spec import WorkflowSpec
from tests.workflows.support import WORKFLOWS, function_arn

SNAPSHOTS = Path(__file__).parent / "snapshots"
_UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def snapshot_path(name: str) -> Path:
    return SNAPSHOTS / f"{name}.asl.json"


def serialise(definition: dict[str, Any]) -> str:
    # Insertion order is kept (not sorted) so the file reads in graph order, like the ASL itself.
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda workflow: workflow.name)
def test_workflow_matches_its_snapshot(workflow: WorkflowSpec) -> None:
    rendered = workflow.definition.render(function_arn)
    path = snapshot_path(workflow.name)
    if _UPDATE:
        path.write_text(serialise(rendered), encoding="utf-8")
    assert path.exists(), f"no snapshot for {workflow.name!r}; create it with UPDATE_SNAPSHOTS=1"

    stored = json.loads(path.read_text(encoding="utf-8"))

    assert rendered == stored, (
        f"{workflow.name!r} differs from {path.name}; if the change is deliberate, "
        f"regenerate with UPDATE_SNAPSHOTS=1 and review the diff"
    )
    # Equal dicts can still be written in another order; the file is the review artefact.
    assert path.read_text(encoding="utf-8") == serialise(rendered)


def test_every_snapshot_belongs_to_a_workflow() -> None:
    names = {workflow.name for workflow in WORKFLOWS}
    stale = sorted(
        p.name for p in SNAPSHOTS.glob("*.asl.json") if p.name[: -len(".asl.json")] not in names
    )

    assert not stale, f"snapshots without a workflow (delete them): {stale}"
