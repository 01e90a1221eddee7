"""update_status's Lambda against DynamoDB: derived statuses, never backwards, bounded records."""

from __future__ import annotations

import copy
import json
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions._shared.dynamodb import from_item
from functions._shared.errors import (
    ConfigurationError,
    InvalidEnvelopeError,
    TransientDependencyError,
)
from functions.update_status.adapters import DynamoDbStatusStore
from tests.events import load_event
from tests.functional.conftest import (
    STATUS_TABLE,
    FakeLambdaContext,
    HandlerLoader,
    emitted_metrics,
)

TRACKING_ID = "trk-20240302-7f3c9a"


@pytest.fixture
def update_status(load_handler: HandlerLoader, dynamodb: Any) -> ModuleType:
    return load_handler("update_status")


def stored_item(dynamodb: Any, tracking_id: str = TRACKING_ID) -> dict[str, Any]:
    response = dynamodb.get_item(TableName=STATUS_TABLE, Key={"trackingId": {"S": tracking_id}})
    return from_item(response["Item"])


def status_update(status: str | None = None, **fields: Any) -> dict[str, Any]:
    update: dict[str, Any] = {"trackingId": TRACKING_ID, "source": "api", **fields}
    if status is not None:
        update["status"] = status
    return update


def test_the_ingest_path_ends_accepted_with_its_counts_and_rejections(
    load_handler: HandlerLoader, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    validated = load_handler("validate").lambda_handler(
        load_event("ingest_envelope.json"), lambda_context
    )
    deduplicated = load_handler("dedupe").lambda_handler(validated, lambda_context)

    record = load_handler("update_status").lambda_handler(deduplicated, lambda_context)

    assert record["trackingId"] == TRACKING_ID
    assert record["status"] == "ACCEPTED"
    assert record["counts"] == {
        "received": 6,
        "valid": 4,
        "rejected": 2,
        "fresh": 4,
        "duplicates": 0,
    }
    assert record["rejected"] == validated["rejected"]
    assert (record["rejectedTotal"], record["duplicates"], record["duplicatesTotal"]) == (2, [], 0)
    assert record["history"] == [{"status": "ACCEPTED", "at": record["updatedAt"]}]
    assert "statusRank" not in record
    assert record == {
        key: value for key, value in stored_item(dynamodb).items() if key != "statusRank"
    }


def test_a_late_lower_status_never_moves_the_record_backwards(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    accepted = update_status.lambda_handler(status_update("ACCEPTED"), lambda_context)
    delivered = update_status.lambda_handler(
        load_event("status_update_delivered.json"), lambda_context
    )

    late = update_status.lambda_handler(status_update("ACCEPTED"), lambda_context)

    assert delivered["status"] == late["status"] == "DELIVERED"
    assert late == delivered
    assert [step["status"] for step in late["history"]] == ["ACCEPTED", "DELIVERED"]
    assert stored_item(dynamodb)["status"] == "DELIVERED"
    assert accepted["createdAt"] == late["createdAt"]


def test_the_same_status_again_is_a_no_op(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    first = update_status.lambda_handler(status_update("DELIVERED"), lambda_context)

    again = update_status.lambda_handler(
        status_update("DELIVERED", counts={"received": 99}), lambda_context
    )

    assert again == first
    assert len(again["history"]) == 1


def test_counts_are_replaced_not_added_on_each_forward_step(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    update_status.lambda_handler(status_update("RECEIVED", counts={"received": 6}), lambda_context)

    record = update_status.lambda_handler(
        status_update("ACCEPTED", counts={"received": 6, "valid": 4}), lambda_context
    )

    assert record["counts"] == {"received": 6, "valid": 4}


def test_a_batch_with_nothing_valid_is_recorded_rejected_with_its_reasons(
    load_handler: HandlerLoader, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    validated = load_handler("validate").lambda_handler(
        load_event("ingest_envelope_junk.json"), lambda_context
    )

    record = load_handler("update_status").lambda_handler(validated, lambda_context)

    assert record["status"] == "REJECTED"
    assert record["reason"] == "none of the 9 events was valid"
    assert len(record["rejected"]) == record["rejectedTotal"] == 9


def test_an_empty_batch_is_recorded_rejected(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    empty = status_update(events=[], counts={"received": 0, "valid": 0, "rejected": 0})

    record = update_status.lambda_handler(empty, lambda_context)

    assert (record["status"], record["reason"]) == ("REJECTED", "the batch held no events")


def test_a_batch_of_known_events_is_recorded_duplicate(
    load_handler: HandlerLoader, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    validated = load_event("validated_envelope.json")
    dedupe = load_handler("dedupe")
    dedupe.lambda_handler({**validated, "trackingId": "trk-first"}, lambda_context)
    repeat = dedupe.lambda_handler(validated, lambda_context)

    record = load_handler("update_status").lambda_handler(repeat, lambda_context)

    assert record["status"] == "DUPLICATE"
    assert record["duplicates"] == [event["eventHeader"]["uuid"] for event in validated["events"]]


def test_a_reason_is_kept_only_while_its_status_stands(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    parked = update_status.lambda_handler(load_event("status_update_parked.json"), lambda_context)

    delivered = update_status.lambda_handler(status_update("DELIVERED"), lambda_context)

    assert parked["reason"].startswith("CircuitOpenError: ")
    assert "reason" not in delivered
    assert [step["status"] for step in delivered["history"]] == ["PARKED", "DELIVERED"]


def test_the_workflow_failure_path_records_failed_with_its_error(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    # The payload of the ingest workflow's "Record failure" state.
    failure = {
        "trackingId": TRACKING_ID,
        "status": "FAILED",
        "error": "TransientDependencyError",
        "cause": json.dumps({"errorMessage": "claim: ThrottlingException", "stackTrace": []}),
    }

    record = update_status.lambda_handler(failure, lambda_context)

    assert record["status"] == "FAILED"
    assert record["reason"] == "TransientDependencyError: claim: ThrottlingException"


def test_a_huge_rejection_list_is_stored_capped_and_small(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    errors = [{"field": f"entities.{i}.entityHeader", "reason": "x" * 500} for i in range(50)]
    rejected = [{"index": i, "eventId": None, "errors": errors} for i in range(300)]
    counts = {"received": 300, "valid": 0, "rejected": 300}

    record = update_status.lambda_handler(
        status_update(rejected=rejected, counts=counts), lambda_context
    )

    assert (len(record["rejected"]), record["rejectedTotal"]) == (100, 300)
    assert len(json.dumps(stored_item(dynamodb))) < 200_000


def test_an_unknown_status_is_a_malformed_envelope(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    with pytest.raises(InvalidEnvelopeError, match="status"):
        update_status.lambda_handler(status_update("SHIPPED"), lambda_context)


def test_ignored_writes_are_published_as_a_metric(
    update_status: ModuleType, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    update_status.lambda_handler(status_update("DELIVERED"), lambda_context)
    capsys.readouterr()

    update_status.lambda_handler(status_update("BUNDLED"), lambda_context)

    assert emitted_metrics(capsys.readouterr().out)["StaleStatusIgnored"] == 1


class ThrottledClient:
    def update_item(self, **_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "UpdateItem"
        )


def test_throttling_fails_with_the_retryable_error(
    update_status: ModuleType, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        update_status, "status_store", DynamoDbStatusStore(STATUS_TABLE, ThrottledClient())
    )

    with pytest.raises(TransientDependencyError, match="ThrottlingException"):
        update_status.lambda_handler(copy.deepcopy(status_update("DELIVERED")), lambda_context)


def test_a_missing_table_name_fails_the_cold_start(
    load_handler: HandlerLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATUS_TABLE_NAME")

    with pytest.raises(ConfigurationError, match="STATUS_TABLE_NAME is not set"):
        load_handler("update_status")
