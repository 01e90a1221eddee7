"""The ingest workflow's own promises, beyond its snapshot."""

from __future__ import annotations

from typing import Any

import pytest

from functions._shared.errors import TransientDependencyError
from stack.app import build_app
from tests.workflows.support import WORKFLOWS, function_arn
from workflows.ingest import TIMEOUT_SECONDS, ingest_definition


@pytest.fixture(scope="module")
def states() -> dict[str, Any]:
    rendered: dict[str, Any] = ingest_definition().render(function_arn)["States"]
    return rendered


def _retried(state: dict[str, Any]) -> list[str]:
    return [name for retrier in state.get("Retry", []) for name in retrier["ErrorEquals"]]


def test_the_happy_path_runs_the_three_lambdas_in_order() -> None:
    rendered = ingest_definition().render(function_arn)

    path = [rendered["StartAt"]]
    while "Next" in rendered["States"][path[-1]]:
        path.append(rendered["States"][path[-1]]["Next"])

    assert path == ["Validate events", "Drop duplicates", "Record status", "Done"]
    assert rendered["TimeoutSeconds"] == TIMEOUT_SECONDS <= 300


def test_it_invokes_exactly_the_functions_the_stack_declares() -> None:
    declared = {function.name for function in build_app().functions}

    assert ingest_definition().referenced_functions() == {"validate", "dedupe", "update_status"}
    for workflow in WORKFLOWS:
        assert workflow.definition.referenced_functions() <= declared


def test_every_task_has_a_timeout_and_the_service_retrier(states: dict[str, Any]) -> None:
    tasks = [state for state in states.values() if state["Type"] == "Task"]

    assert len(tasks) == 4
    for task in tasks:
        assert task["TimeoutSeconds"] > 0
        assert "Lambda.TooManyRequestsException" in _retried(task)


def test_transient_dependency_errors_are_retried_where_dependencies_are_called(
    states: dict[str, Any],
) -> None:
    name = TransientDependencyError.__name__

    assert name not in _retried(states["Validate events"])
    for step in ("Drop duplicates", "Record status", "Record failure"):
        assert name in _retried(states[step])


def test_failures_are_recorded_then_fail_with_the_original_error(states: dict[str, Any]) -> None:
    for step in ("Validate events", "Drop duplicates"):
        assert states[step]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "Next": "Has tracking id?", "ResultPath": "$.error"}
        ]
    assert states["Record failure"]["Parameters"]["Payload"] == {
        "trackingId.$": "$.trackingId",
        "status": "FAILED",
        "error.$": "$.error.Error",
        "cause.$": "$.error.Cause",
    }
    # The error must survive recording, so "Failed" can fail with its name.
    assert states["Record failure"]["ResultPath"] is None
    assert states["Record failure"]["Catch"][0]["ResultPath"] != "$.error"
    assert states["Failed"] == {
        "Type": "Fail",
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }


def test_an_envelope_without_tracking_id_skips_recording(states: dict[str, Any]) -> None:
    guard = states["Has tracking id?"]

    assert guard["Choices"] == [
        {"Variable": "$.trackingId", "IsPresent": True, "Next": "Record failure"}
    ]
    assert guard["Default"] == "Failed"
