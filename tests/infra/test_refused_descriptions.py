"""The Pulumi program refuses a description the checks refuse, before it registers anything."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra.stack import deploy
from stack.checks import DependencyCycleError, DescriptionError
from stack.spec import App, PipeSpec, WorkflowGrant
from tests.infra.harness import RecordingMocks, run_program


def _refused(app: App) -> tuple[str, RecordingMocks]:
    mocks = RecordingMocks()
    with pytest.raises(DescriptionError) as raised:
        run_program(lambda: deploy(app), mocks=mocks)
    return str(raised.value), mocks


def test_a_dangling_reference_is_refused_by_name_before_any_resource(synthetic: App) -> None:
    broken = replace(synthetic, pipes=(PipeSpec("leak", "nowhere", "pipeline"),))
    message, mocks = _refused(broken)
    assert "pipe 'leak' names queue 'nowhere'" in message
    assert mocks.resources == []


def test_a_name_used_twice_is_refused_before_any_resource(synthetic: App) -> None:
    twice = replace(synthetic, tables=(*synthetic.tables, synthetic.tables[0]))
    message, mocks = _refused(twice)
    assert "2 tables named 'items'" in message
    assert mocks.resources == []


def test_a_dependency_cycle_is_refused_before_any_resource(synthetic: App) -> None:
    reader = replace(
        synthetic.function("reader"), workflows=(WorkflowGrant("pipeline", "PIPELINE_ARN"),)
    )
    cyclic = replace(synthetic, functions=(reader, *synthetic.functions[1:]))
    mocks = RecordingMocks()
    with pytest.raises(DependencyCycleError, match="function 'reader' -> workflow 'pipeline'"):
        run_program(lambda: deploy(cyclic), mocks=mocks)
    assert mocks.resources == []
