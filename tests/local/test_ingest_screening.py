"""The ingest workflow's first steps through the local runtime, with the real Lambdas.

Validate -> dedupe -> (nothing new) -> record status: bad events are rejected with their reasons,
repeats are duplicates, and every outcome is in the status table.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from local.runtime import LocalStack
from tests.events import load_example


def _ingest(stack: LocalStack, events: Any, tracking_id: str | None = None) -> dict[str, Any]:
    tracking_id = tracking_id or f"trk-{uuid.uuid4().hex}"
    sfn = stack.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn("ingest"),
        name=tracking_id,
        input=json.dumps({"trackingId": tracking_id, "source": "cli", "events": events}),
    )
    return stack.wait_for_execution(started["executionArn"])


def _status(stack: LocalStack, tracking_id: str) -> dict[str, Any]:
    table = stack.app.physical_name("status")
    item = stack.client("dynamodb").get_item(
        TableName=table, Key={"trackingId": {"S": tracking_id}}, ConsistentRead=True
    )
    assert "Item" in item, f"no status recorded for {tracking_id}"
    record: dict[str, Any] = item["Item"]
    return record


def test_an_all_invalid_batch_is_rejected_with_a_reason_per_field(
    local_stack: LocalStack,
) -> None:
    events = [
        {"eventHeader": {"uuid": "not-a-uuid", "eventType": "CarSold"}, "entities": []},
        "a string is not an event",
        {"eventHeader": None},
    ]
    described = _ingest(local_stack, events)
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["status"] == "REJECTED"
    assert output["counts"]["received"] == 3
    assert output["counts"]["rejected"] == 3
    fields = {error["field"] for rejection in output["rejected"] for error in rejection["errors"]}
    assert {"eventHeader.uuid", "eventHeader.eventType", "$"} <= fields
    stored = _status(local_stack, output["trackingId"])
    assert stored["status"]["S"] == "REJECTED"


def test_an_empty_batch_is_rejected_and_recorded(local_stack: LocalStack) -> None:
    described = _ingest(local_stack, [])
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["status"] == "REJECTED"
    assert output["counts"]["received"] == 0
    assert _status(local_stack, output["trackingId"])["status"]["S"] == "REJECTED"


def test_an_envelope_without_events_fails_with_the_error_class_name(
    local_stack: LocalStack,
) -> None:
    tracking_id = f"trk-{uuid.uuid4().hex}"
    sfn = local_stack.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=local_stack.state_machine_arn("ingest"),
        name=tracking_id,
        input=json.dumps({"trackingId": tracking_id, "events": "not a list"}),
    )
    described = local_stack.wait_for_execution(started["executionArn"])
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidEnvelopeError"
    assert _status(local_stack, tracking_id)["status"]["S"] == "FAILED"


def test_events_seen_before_are_duplicates(local_stack: LocalStack) -> None:
    event = load_example("event.json")
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    first = _ingest(local_stack, [event])
    assert first["status"] in {"SUCCEEDED", "FAILED"}  # delivery is not what this test is about
    second = _ingest(local_stack, [event])
    assert second["status"] == "SUCCEEDED"
    output = json.loads(second["output"])
    assert output["status"] == "DUPLICATE"
    assert output["duplicates"] == [event["eventHeader"]["uuid"]]
    assert _status(local_stack, output["trackingId"])["status"]["S"] == "DUPLICATE"
