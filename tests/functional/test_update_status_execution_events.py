"""update_status's Lambda on EventBridge execution status changes, against DynamoDB: the
execution's tracking id ends FAILED with why, unless it already went further."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from functions._shared.dynamodb import from_item
from tests.functional.conftest import STATUS_TABLE, FakeLambdaContext, HandlerLoader

TRACKING_ID = "trk-20240302-7f3c9a"
MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:stepflow-dev-ingest"
EXECUTION_ARN = f"arn:aws:states:us-east-1:123456789012:execution:stepflow-dev-ingest:{TRACKING_ID}"


@pytest.fixture
def update_status(load_handler: HandlerLoader, dynamodb: Any) -> ModuleType:
    return load_handler("update_status")


def status_change(status: str, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2024-03-02T10:00:00Z",
        "region": "us-east-1",
        "resources": [EXECUTION_ARN],
        "detail": {
            "executionArn": EXECUTION_ARN,
            "stateMachineArn": MACHINE_ARN,
            "name": TRACKING_ID,
            "status": status,
            "input": json.dumps({"trackingId": TRACKING_ID, "events": []}),
            "inputDetails": {"included": True},
            **detail,
        },
    }


def stored(dynamodb: Any) -> dict[str, Any]:
    response = dynamodb.get_item(TableName=STATUS_TABLE, Key={"trackingId": {"S": TRACKING_ID}})
    return from_item(response["Item"])


@pytest.mark.parametrize("ending", ["ABORTED", "TIMED_OUT", "FAILED"])
def test_an_unsuccessful_ending_fails_the_record_naming_the_ending_and_the_execution(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext, ending: str
) -> None:
    update_status.lambda_handler({"trackingId": TRACKING_ID, "status": "ACCEPTED"}, lambda_context)

    record = update_status.lambda_handler(
        status_change(ending, error="States.Timeout", cause="ran too long"), lambda_context
    )

    assert record["status"] == "FAILED"
    assert record["reason"] == f"execution {ending}: States.Timeout: ran too long ({EXECUTION_ARN})"
    assert stored(dynamodb)["status"] == "FAILED"
    assert [step["status"] for step in stored(dynamodb)["history"]] == ["ACCEPTED", "FAILED"]


def test_without_the_input_the_execution_name_is_the_tracking_id(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    event = status_change("TIMED_OUT")
    event["detail"].pop("input")
    event["detail"]["inputDetails"] = {"included": False}

    record = update_status.lambda_handler(event, lambda_context)

    assert (record["trackingId"], record["status"]) == (TRACKING_ID, "FAILED")


def test_a_delivered_or_parked_record_keeps_its_status(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    for final in ("PARKED", "DELIVERED"):
        update_status.lambda_handler({"trackingId": TRACKING_ID, "status": final}, lambda_context)
        record = update_status.lambda_handler(status_change("ABORTED"), lambda_context)
        assert record["status"] == final
        assert stored(dynamodb)["status"] == final
