"""A hostile producer's event beside a valid one, through the whole local stack: the valid event
is delivered downstream, the bad one is REJECTED with a reason naming its field."""

from __future__ import annotations

import json
import uuid
from typing import Any

from local.environment import LocalEnvironment
from local.runtime import LocalStack
from tests.events import load_example


def _an_event() -> dict[str, Any]:
    event: dict[str, Any] = load_example("event.json")
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    return event


def test_a_date_before_year_one_in_utc_costs_only_its_own_event(
    local_env: LocalEnvironment,
) -> None:
    stack = local_env.stack
    bad, good = _an_event(), _an_event()
    bad["eventHeader"]["createdDate"] = "0001-01-01T00:00:00+01:00"
    tracking_id = f"trk-{uuid.uuid4().hex}"
    started = stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.state_machine_arn("ingest"),
        name=tracking_id,
        input=json.dumps({"trackingId": tracking_id, "source": "cli", "events": [bad, good]}),
    )

    described = stack.wait_for_execution(started["executionArn"], timeout_seconds=120)

    assert described["status"] == "SUCCEEDED", described
    item = stack.client("dynamodb").get_item(
        TableName=stack.app.physical_name("status"),
        Key={"trackingId": {"S": tracking_id}},
        ConsistentRead=True,
    )["Item"]
    assert item["status"]["S"] == "DELIVERED"
    assert item["counts"]["M"]["rejected"]["N"] == "1"
    # The delivered record does not list rejections (the workflow's "Record delivery" passes
    # none); the reason is in what validate returned, in the execution's history.
    [rejection] = _rejections_validate_returned(stack, started["executionArn"])
    assert rejection["eventId"] == bad["eventHeader"]["uuid"]
    assert rejection["errors"] == [
        {
            "field": "eventHeader.createdDate",
            "reason": "is out of range: in UTC it falls outside the years 0001 to 9999",
        }
    ]
    delivered = local_env.downstream.received().events
    assert delivered.get(good["eventHeader"]["uuid"]) == 1
    assert bad["eventHeader"]["uuid"] not in delivered


def _rejections_validate_returned(stack: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
    history = stack.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    outputs = [
        json.loads(details["output"])
        for event in history
        for key, details in event.items()
        if key.endswith("EventDetails") and isinstance(details, dict) and "output" in details
    ]
    validated = next(output for output in outputs if output.get("rejected"))
    rejected: list[dict[str, Any]] = validated["rejected"]
    return rejected
