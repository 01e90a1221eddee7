"""A queued batch of API requests through validate, dedupe and update_status against DynamoDB:
each request's tracking id gets its own status from its own events, names the execution that
carried it, and fails with its batch when the execution ends without recording."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from functions._shared.dynamodb import from_item
from tests.events import load_event
from tests.functional.conftest import STATUS_TABLE, FakeLambdaContext, HandlerLoader

EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:stepflow-dev-ingest:batch-1"
EXECUTION = {"executionArn": EXECUTION_ARN}
MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:stepflow-dev-ingest"


# validate keeps the rejected events of a batch in the quarantine bucket.
pytestmark = pytest.mark.usefixtures("quarantine_bucket")


def an_event(uuid: str) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads(load_event("api_post_event.json")["body"]))
    event["eventHeader"]["uuid"] = uuid
    return event


def message(message_id: str, tracking_id: str, events: list[Any]) -> dict[str, Any]:
    body = {"trackingId": tracking_id, "source": "api", "events": events}
    return {"messageId": message_id, "body": json.dumps(body)}


FRESH = "00000000-0000-4000-8000-000000000001"
SEEN = "00000000-0000-4000-8000-000000000002"
OTHER = "00000000-0000-4000-8000-000000000003"

BATCH = [
    message("m-fresh", "trk-fresh", [an_event(FRESH)]),
    message("m-seen", "trk-seen", [an_event(SEEN)]),
    message("m-mixed", "trk-mixed", [{"eventHeader": {}}, an_event(OTHER)]),
]


def stored(dynamodb: Any, tracking_id: str) -> dict[str, Any]:
    response = dynamodb.get_item(TableName=STATUS_TABLE, Key={"trackingId": {"S": tracking_id}})
    return from_item(response["Item"])


@pytest.fixture
def screened(
    load_handler: HandlerLoader, dynamodb: Any, lambda_context: FakeLambdaContext
) -> dict[str, Any]:
    """The batch after validate and dedupe, SEEN claimed by an earlier execution."""
    dedupe = load_handler("dedupe")
    earlier = {"trackingId": "trk-earlier", "source": "api", "events": [an_event(SEEN)]}
    dedupe.lambda_handler(
        load_handler("validate").lambda_handler(earlier, lambda_context), lambda_context
    )
    validated = load_handler("validate").lambda_handler(BATCH, lambda_context)
    screened: dict[str, Any] = dedupe.lambda_handler(validated, lambda_context)
    return {**screened, "execution": EXECUTION}


def test_validate_lists_each_request_with_its_message_and_events(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    validated = load_handler("validate").lambda_handler(BATCH, lambda_context)

    assert validated["trackingId"].startswith("sqs-")
    assert validated["carried"] == [
        {"trackingId": "trk-fresh", "messageId": "m-fresh", "received": 1, "offset": 0,
         "eventIds": [FRESH]},
        {"trackingId": "trk-seen", "messageId": "m-seen", "received": 1, "offset": 1,
         "eventIds": [SEEN]},
        {"trackingId": "trk-mixed", "messageId": "m-mixed", "received": 2, "offset": 2,
         "eventIds": [OTHER]},
    ]  # fmt: skip


def test_a_delivered_batch_records_each_request_by_its_own_events(
    load_handler: HandlerLoader,
    dynamodb: Any,
    lambda_context: FakeLambdaContext,
    screened: dict[str, Any],
) -> None:
    delivered = {
        "trackingId": screened["trackingId"],
        "status": "DELIVERED",
        "counts": screened["counts"],
        "archive": {"bucket": "archive", "key": "bundles/ab/ab12.ndjson.gz"},
        "rejected": screened["rejected"],
        "duplicates": screened["duplicates"],
        "carried": screened["carried"],
        "execution": screened["execution"],
    }

    load_handler("update_status").lambda_handler(delivered, lambda_context)

    fresh = stored(dynamodb, "trk-fresh")
    assert fresh["status"] == "DELIVERED"
    assert fresh["archiveKey"] == "bundles/ab/ab12.ndjson.gz"
    assert fresh["executionArn"] == EXECUTION_ARN
    assert fresh["counts"] == {
        "received": 1, "valid": 1, "rejected": 0, "fresh": 1, "duplicates": 0,
    }  # fmt: skip
    seen = stored(dynamodb, "trk-seen")
    assert (seen["status"], seen["duplicates"]) == ("DUPLICATE", [SEEN])
    assert "archiveKey" not in seen
    assert seen["executionArn"] == EXECUTION_ARN
    mixed = stored(dynamodb, "trk-mixed")
    assert mixed["status"] == "DELIVERED"
    # Indexed within its own request, as if it had run alone.
    assert [rejection["index"] for rejection in mixed["rejected"]] == [0]
    assert mixed["counts"]["rejected"] == 1
    assert stored(dynamodb, screened["trackingId"])["status"] == "DELIVERED"


def test_the_nothing_new_branch_records_the_whole_state_per_request(
    load_handler: HandlerLoader,
    dynamodb: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    update_status = load_handler("update_status")
    validated = load_handler("validate").lambda_handler(
        [message("m-1", "trk-1", [{"eventHeader": {}}]), message("m-2", "trk-2", [])],
        lambda_context,
    )

    update_status.lambda_handler({**validated, "execution": EXECUTION}, lambda_context)

    assert stored(dynamodb, "trk-1")["status"] == "REJECTED"
    assert stored(dynamodb, "trk-2")["reason"] == "the batch held no events"
    assert stored(dynamodb, "trk-2")["executionArn"] == EXECUTION_ARN


def test_an_execution_that_ends_failed_fails_every_request_it_carried(
    load_handler: HandlerLoader, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    change = {
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
            "name": "batch-1",
            "status": "TIMED_OUT",
            "input": json.dumps(BATCH),
            "inputDetails": {"included": True},
        },
    }

    load_handler("update_status").lambda_handler(change, lambda_context)

    for tracking_id in ("trk-fresh", "trk-seen", "trk-mixed"):
        record = stored(dynamodb, tracking_id)
        assert record["status"] == "FAILED"
        assert EXECUTION_ARN in record["reason"]
        assert record["executionArn"] == EXECUTION_ARN
