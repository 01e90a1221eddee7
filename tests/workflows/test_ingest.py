"""The ingest workflow's own promises, beyond its snapshot."""

from __future__ import annotations

from typing import Any

import pytest

from functions._shared.errors import (
    CircuitOpenError,
    ConfigurationError,
    InvalidEnvelopeError,
    PermanentDeliveryError,
    TransientDeliveryError,
    TransientDependencyError,
)
from stack.app import build_app
from stack.spec import StackConfig
from tests.workflows.support import WORKFLOWS, function_arn
from workflows.ingest import ingest_definition
from workflows.pipeline import TIMEOUT_SECONDS


@pytest.fixture(scope="module")
def states() -> dict[str, Any]:
    rendered: dict[str, Any] = ingest_definition().render(function_arn)["States"]
    return rendered


def _retried(state: dict[str, Any]) -> list[str]:
    return [name for retrier in state.get("Retry", []) for name in retrier["ErrorEquals"]]


def _path(rendered: dict[str, Any], choose: dict[str, int]) -> list[str]:
    """Follow Next from StartAt, taking ``choose[state]`` (a Choices index, -1 = Default)."""
    states = rendered["States"]
    path = [rendered["StartAt"]]
    while len(path) < 30:
        state = states[path[-1]]
        if state["Type"] == "Choice":
            index = choose[path[-1]]
            path.append(state["Default"] if index < 0 else state["Choices"][index]["Next"])
        elif "Next" in state:
            path.append(state["Next"])
        else:
            break
    return path


def test_nothing_new_is_recorded_and_succeeds() -> None:
    rendered = ingest_definition().render(function_arn)

    assert _path(rendered, {"Anything new?": -1}) == [
        "Validate events",
        "Drop duplicates",
        "Note the execution",
        "Anything new?",
        "Record status",
        "Done",
    ]
    assert rendered["TimeoutSeconds"] == TIMEOUT_SECONDS


def test_new_events_are_bundled_archived_checked_delivered_and_recorded() -> None:
    rendered = ingest_definition().render(function_arn)

    choose = {"Anything new?": 0, "Anything bundled?": 0, "Circuit open?": 0}
    assert _path(rendered, choose) == [
        "Validate events",
        "Drop duplicates",
        "Note the execution",
        "Anything new?",
        "Bundle events",
        "Anything bundled?",
        "Archive bundle",
        "Start the park count",
        "Check the circuit",
        "Circuit open?",
        "Deliver bundle",
        "Record delivery",
        "Delivered",
    ]


def test_an_open_circuit_parks_after_the_configured_checks() -> None:
    rendered = ingest_definition(StackConfig(park_checks=4)).render(function_arn)
    states = rendered["States"]

    choice = states["Circuit open?"]
    assert choice["Choices"][1] == {
        "Variable": "$.park.checks",
        "NumericGreaterThanEquals": 4,
        "Next": "Record parked",
    }
    assert choice["Default"] == "Wait for the cooldown"
    assert states["Wait for the cooldown"]["SecondsPath"] == "$.circuit.retryAfterSeconds"
    assert states["Wait for the cooldown"]["Next"] == "Count the park check"
    assert states["Count the park check"]["Next"] == "Check the circuit"
    assert states["Record parked"]["Next"] == "Deliver parked bundle"
    assert states["Record parked"]["Parameters"]["Payload"]["status"] == "PARKED"


def test_the_parked_delivery_fails_uncaught_so_a_redrive_re_runs_it() -> None:
    states = ingest_definition().render(function_arn)["States"]

    caught = [n for c in states["Deliver parked bundle"].get("Catch", []) for n in c["ErrorEquals"]]
    assert CircuitOpenError.__name__ not in caught
    assert TransientDeliveryError.__name__ not in caught
    assert PermanentDeliveryError.__name__ not in caught
    assert "States.ALL" not in caught
    assert TransientDeliveryError.__name__ in _retried(states["Deliver parked bundle"])


def test_delivery_errors_route_by_class_name() -> None:
    states = ingest_definition().render(function_arn)["States"]

    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in states["Deliver bundle"]["Catch"]}
    assert catches[(TransientDeliveryError.__name__, CircuitOpenError.__name__)] == (
        "Count the park check"
    )
    assert catches[(ConfigurationError.__name__, InvalidEnvelopeError.__name__)] == (
        "Has tracking id?"
    )
    # Refused for good, or an outcome nobody knows (a timeout after the POST): parked, never
    # FAILED, because dedupe hands a FAILED execution's events to a re-send.
    assert catches[(PermanentDeliveryError.__name__,)] == "Record refused delivery"
    assert catches[("States.ALL",)] == "Record refused delivery"
    assert TransientDeliveryError.__name__ in _retried(states["Deliver bundle"])


def test_a_refused_delivery_is_parked_with_the_downstream_answer_as_its_reason(
    states: dict[str, Any],
) -> None:
    refused = states["Record refused delivery"]

    assert refused["Next"] == "Deliver parked bundle"
    assert refused["Parameters"]["Payload"] == {
        "trackingId.$": "$.trackingId",
        "status": "PARKED",
        "counts.$": "$.counts",
        "archive.$": "$.archive",
        "error.$": "$.deliveryError.Error",
        "cause.$": "$.deliveryError.Cause",
        "rejected.$": "$.rejected",
        "duplicates.$": "$.duplicates",
        "carried.$": "$.carried",
        "execution.$": "$.execution",
    }


def test_a_delivered_record_keeps_the_archive_and_every_rejection(states: dict[str, Any]) -> None:
    payload = states["Record delivery"]["Parameters"]["Payload"]

    assert payload["archive.$"] == "$.archive"
    assert (payload["rejected.$"], payload["duplicates.$"]) == ("$.rejected", "$.duplicates")


def test_an_empty_bundle_is_not_delivered_but_recorded_rejected(states: dict[str, Any]) -> None:
    choice = states["Anything bundled?"]

    assert choice["Choices"] == [
        {"Variable": "$.bundle.count", "NumericGreaterThan": 0, "Next": "Archive bundle"}
    ]
    assert choice["Default"] == "Record rejection"
    payload = states["Record rejection"]["Parameters"]["Payload"]
    assert payload["status"] == "REJECTED"
    assert payload["rejected.$"] == "$.rejected"
    assert states[states["Record rejection"]["Next"]]["Type"] == "Succeed"


def test_it_invokes_exactly_the_functions_the_stack_declares() -> None:
    declared = {function.name for function in build_app().functions}

    assert ingest_definition().referenced_functions() == {
        "validate",
        "dedupe",
        "update_status",
        "bundle",
        "archive",
        "deliver",
    }
    for workflow in WORKFLOWS:
        assert workflow.definition.referenced_functions() <= declared


def test_every_task_has_a_timeout_and_the_service_retrier(states: dict[str, Any]) -> None:
    tasks = [state for state in states.values() if state["Type"] == "Task"]

    assert len(tasks) == 13
    for task in tasks:
        assert task["TimeoutSeconds"] > 0
        assert "Lambda.TooManyRequestsException" in _retried(task)


def test_transient_dependency_errors_are_retried_where_dependencies_are_called(
    states: dict[str, Any],
) -> None:
    name = TransientDependencyError.__name__

    # validate reads stored batches from S3 and sends overflowing messages back to SQS.
    for step in ("Validate events", "Drop duplicates", "Record status", "Record failure"):
        assert name in _retried(states[step])


def test_failures_are_recorded_then_fail_with_the_original_error(states: dict[str, Any]) -> None:
    for step in ("Validate events", "Drop duplicates"):
        assert states[step]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "Next": "Has tracking id?", "ResultPath": "$.error"}
        ]
    assert states["Record failure"]["Parameters"]["Payload"] == {
        "trackingId.$": "$.trackingId",
        "terminal": True,
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


def test_every_final_record_names_the_execution_and_the_requests_the_batch_carries(
    states: dict[str, Any],
) -> None:
    note = states["Note the execution"]
    assert note["Parameters"] == {"executionArn.$": "$$.Execution.Id"}
    assert note["ResultPath"] == "$.execution"
    for name in ("Record delivery", "Record parked", "Record refused delivery", "Record rejection"):
        payload = states[name]["Parameters"]["Payload"]
        assert payload["carried.$"] == "$.carried", name
        assert payload["execution.$"] == "$.execution", name
    # The nothing-new branch records the whole state, which holds both.
    assert states["Record status"]["Parameters"]["Payload.$"] == "$"
