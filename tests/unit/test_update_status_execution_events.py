"""Which status record an execution carried, and the reason its unsuccessful ending gives."""

from __future__ import annotations

import json
from typing import Any

from functions._shared.pipe_batches import batch_tracking_id
from functions.update_status.core import MAX_STORED_REASON_LENGTH
from functions.update_status.execution_events import (
    ExecutionStatusDetail,
    TrackedExecution,
    execution_failure_reason,
    is_execution_status_event,
    tracked_execution,
)

ARN = "arn:aws:states:us-east-1:123456789012:execution:stepflow-dev-ingest:run-1"


def detail(
    execution_input: Any = None, name: str = "run-1", **fields: Any
) -> ExecutionStatusDetail:
    raw = {
        "executionArn": ARN,
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:stepflow-dev-ingest",
        "name": name,
        "status": "FAILED",
        **fields,
    }
    if execution_input is not None:
        raw["input"] = (
            execution_input if isinstance(execution_input, str) else json.dumps(execution_input)
        )
    return ExecutionStatusDetail.model_validate(raw)


def record(message_id: str, body: Any) -> dict[str, Any]:
    return {"messageId": message_id, "body": body if isinstance(body, str) else json.dumps(body)}


def test_an_envelope_names_its_tracking_id() -> None:
    assert tracked_execution(detail({"trackingId": "trk-1", "events": []})) == TrackedExecution(
        "trk-1"
    )


def test_an_enrichment_names_its_catalog_too() -> None:
    found = tracked_execution(detail({"trackingId": "trk-1", "catalogId": "cat-1"}))
    assert found == TrackedExecution("trk-1", "cat-1")


def test_a_pipe_batch_of_one_envelope_keeps_the_envelope_tracking_id() -> None:
    batch = [record("m-1", {"trackingId": "trk-7", "events": [{}]})]
    assert tracked_execution(detail(batch)) == TrackedExecution("trk-7")


def test_any_other_pipe_batch_is_named_after_its_messages_as_validate_names_it() -> None:
    batch = [record("m-2", {"a": 1}), record("m-1", "not json")]
    assert tracked_execution(detail(batch)) == TrackedExecution(batch_tracking_id(["m-1", "m-2"]))


def test_a_missing_or_cut_input_falls_back_to_the_execution_name() -> None:
    assert tracked_execution(detail(None, name="trk-9")) == TrackedExecution("trk-9")
    assert tracked_execution(detail('{"trackingId": "trk-', name="trk-9")) == TrackedExecution(
        "trk-9"
    )
    excluded = detail({"trackingId": "trk-1"}, name="trk-9", inputDetails={"included": False})
    assert tracked_execution(excluded) == TrackedExecution("trk-9")


def test_the_reason_keeps_the_execution_arn_however_long_the_cause() -> None:
    reason = execution_failure_reason(detail(error="Boom", cause="x" * 5000))
    assert len(reason) <= MAX_STORED_REASON_LENGTH
    assert reason.startswith("execution FAILED: Boom: xxx")
    assert reason.endswith(f"({ARN})")


def test_a_lambda_error_document_is_reduced_to_its_message() -> None:
    cause = json.dumps({"errorMessage": "no such key", "stackTrace": ["..."]})
    reason = execution_failure_reason(detail(error="KeyError", cause=cause))
    assert reason == f"execution FAILED: KeyError: no such key ({ARN})"


def test_only_execution_status_changes_are_routed_here() -> None:
    assert not is_execution_status_event([])
    assert not is_execution_status_event({"source": "aws.s3", "detail-type": "Object Created"})
