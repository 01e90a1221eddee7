"""dedupe's Lambda against DynamoDB: repeats dropped, retries kept, expired claims reusable."""

from __future__ import annotations

import copy
import time
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions._shared import names
from functions._shared.errors import ConfigurationError, TransientDependencyError
from functions.dedupe.adapters import DynamoDbClaimStore
from tests.events import load_event
from tests.functional.conftest import (
    DEDUPE_TABLE,
    DEDUPE_TTL_SECONDS,
    FakeLambdaContext,
    HandlerLoader,
    emitted_metrics,
)


def validated(tracking_id: str) -> dict[str, Any]:
    envelope: dict[str, Any] = copy.deepcopy(load_event("validated_envelope.json"))
    envelope["trackingId"] = tracking_id
    return envelope


SAMPLE_IDS = [event["eventHeader"]["uuid"] for event in validated("x")["events"]]


def ids_of(result: dict[str, Any]) -> list[str]:
    return [event["eventHeader"]["uuid"] for event in result["events"]]


def stored_claim(dynamodb: Any, event_id: str) -> dict[str, Any]:
    item = dynamodb.get_item(TableName=DEDUPE_TABLE, Key={"eventId": {"S": event_id}})["Item"]
    return {key: next(iter(value.values())) for key, value in item.items()}


def seed_claim(dynamodb: Any, event_id: str, tracking_id: str, expires_at: int) -> None:
    dynamodb.put_item(
        TableName=DEDUPE_TABLE,
        Item={
            "eventId": {"S": event_id},
            "expiresAt": {"N": str(expires_at)},
            "trackingId": {"S": tracking_id},
            "firstSeenAt": {"S": "2024-01-01T00:00:00Z"},
        },
    )


@pytest.fixture
def dedupe(load_handler: HandlerLoader, dynamodb: Any) -> ModuleType:
    return load_handler("dedupe")


def test_first_delivery_is_fresh_and_claims_every_event(
    dedupe: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    result = dedupe.lambda_handler(validated("trk-1"), lambda_context)

    assert ids_of(result) == SAMPLE_IDS
    assert result["duplicates"] == []
    assert result["counts"] == {
        "received": 6,
        "valid": 4,
        "rejected": 2,
        "fresh": 4,
        "duplicates": 0,
    }
    assert result["rejected"] == validated("trk-1")["rejected"]
    claim = stored_claim(dynamodb, SAMPLE_IDS[0])
    assert claim["trackingId"] == "trk-1"
    first_seen = int(datetime.fromisoformat(claim["firstSeenAt"]).timestamp())
    assert int(claim["expiresAt"]) == first_seen + DEDUPE_TTL_SECONDS


def test_a_repeat_from_another_tracking_id_is_all_duplicates(
    dedupe: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    dedupe.lambda_handler(validated("trk-1"), lambda_context)

    repeat = dedupe.lambda_handler(validated("trk-2"), lambda_context)
    again = dedupe.lambda_handler(validated("trk-3"), lambda_context)

    for result in (repeat, again):
        assert result["events"] == []
        assert result["duplicates"] == SAMPLE_IDS
        assert (result["counts"]["fresh"], result["counts"]["duplicates"]) == (0, 4)


@pytest.mark.parametrize(
    ("recorded", "taken_over"),
    [
        # The payload of the workflows' "Record failure", right before their Fail state.
        ({"status": "FAILED", "terminal": True, "error": "ConfigurationError"}, True),
        # An aborted execution's FAILED, which a redrive could still carry into delivery.
        ({"status": "FAILED", "error": "States.Aborted"}, False),
        ({"status": "PARKED", "reason": "the downstream circuit is open"}, False),
    ],
    ids=["failed-terminally", "failed-unmarked", "parked"],
)
def test_a_re_send_takes_over_only_from_an_execution_that_never_delivers(
    *,
    load_handler: HandlerLoader,
    dedupe: ModuleType,
    dynamodb: Any,
    lambda_context: FakeLambdaContext,
    recorded: dict[str, Any],
    taken_over: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dedupe.lambda_handler(validated("trk-1"), lambda_context)
    load_handler("update_status").lambda_handler(
        {"trackingId": "trk-1", **recorded}, lambda_context
    )
    capsys.readouterr()

    resent = dedupe.lambda_handler(validated("trk-2"), lambda_context)

    assert (ids_of(resent) == SAMPLE_IDS) is taken_over
    assert (stored_claim(dynamodb, SAMPLE_IDS[0])["trackingId"] == "trk-2") is taken_over
    if taken_over:
        assert emitted_metrics(capsys.readouterr().out)["ClaimsTakenOver"] == 4
    assert ("parkedHolders" in resent) is (recorded["status"] == "PARKED")


def test_a_retry_of_the_same_tracking_id_counts_as_fresh(
    dedupe: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    first = dedupe.lambda_handler(validated("trk-1"), lambda_context)

    retry = dedupe.lambda_handler(validated("trk-1"), lambda_context)

    assert ids_of(retry) == ids_of(first) == SAMPLE_IDS
    assert retry["counts"]["fresh"] == 4


def test_an_expired_claim_can_be_claimed_again(
    dedupe: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    # TTL deletion lags by days: the expired item is still in the table when the event returns.
    seed_claim(dynamodb, SAMPLE_IDS[0], "trk-old", expires_at=int(time.time()) - 60)

    result = dedupe.lambda_handler(validated("trk-new"), lambda_context)

    assert ids_of(result) == SAMPLE_IDS
    assert stored_claim(dynamodb, SAMPLE_IDS[0])["trackingId"] == "trk-new"


def test_a_live_claim_of_another_tracking_id_drops_only_that_event(
    dedupe: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    seed_claim(dynamodb, SAMPLE_IDS[1], "trk-other", expires_at=int(time.time()) + 86_400)

    result = dedupe.lambda_handler(validated("trk-1"), lambda_context)

    assert result["duplicates"] == [SAMPLE_IDS[1]]
    assert ids_of(result) == [SAMPLE_IDS[0], *SAMPLE_IDS[2:]]
    assert stored_claim(dynamodb, SAMPLE_IDS[1])["trackingId"] == "trk-other"


def test_dropped_duplicates_are_published_as_a_metric(
    dedupe: ModuleType, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    dedupe.lambda_handler(validated("trk-1"), lambda_context)
    capsys.readouterr()

    dedupe.lambda_handler(validated("trk-2"), lambda_context)

    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["DuplicatesDropped"], metrics["FreshEvents"]) == (4, 0)


class ThrottledClient:
    def put_item(self, **_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "PutItem",
        )


def test_throttling_fails_with_the_retryable_error(
    dedupe: ModuleType, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedupe, "claim_store", DynamoDbClaimStore(DEDUPE_TABLE, ThrottledClient()))

    with pytest.raises(TransientDependencyError, match="ProvisionedThroughputExceeded"):
        dedupe.lambda_handler(validated("trk-1"), lambda_context)


def test_the_ttl_defaults_to_seven_days(
    load_handler: HandlerLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(names.DEDUPE_TTL_SECONDS_ENV)

    assert load_handler("dedupe").settings.ttl_seconds == 604_800


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (names.DEDUPE_TABLE_ENV, None, "DEDUPE_TABLE_NAME is not set"),
        (names.DEDUPE_TTL_SECONDS_ENV, "a week", "DEDUPE_TTL_SECONDS"),
        (names.DEDUPE_TTL_SECONDS_ENV, "-5", "DEDUPE_TTL_SECONDS"),
    ],
)
def test_a_wrong_environment_fails_the_cold_start_naming_the_variable(
    load_handler: HandlerLoader,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str | None,
    message: str,
) -> None:
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError, match=message):
        load_handler("dedupe")


def objects_envelope(tracking_id: str) -> dict[str, Any]:
    """validate's output for a batch of S3 notifications (see tests/events/s3_*.json)."""
    return {
        "trackingId": tracking_id,
        "source": "s3",
        "objects": [
            {
                "bucket": "stepflow-test-landing",
                "key": f"landed/2024/03/02/{name}",
                "etag": f"etag-{index}",
                "size": 100,
            }
            for index, name in enumerate(["cars.ndjson", "loans.ndjson.gz"])
        ],
        "rejected": [],
        "duplicates": [],
        "counts": {"received": 2, "valid": 2, "rejected": 0},
    }


def test_objects_are_claimed_by_location_and_etag_in_the_table(
    dedupe: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    first = dedupe.lambda_handler(objects_envelope("sqs-1"), lambda_context)
    repeat = dedupe.lambda_handler(objects_envelope("sqs-2"), lambda_context)

    claim_id = "s3://stepflow-test-landing/landed/2024/03/02/cars.ndjson#etag-0"
    assert stored_claim(dynamodb, claim_id)["trackingId"] == "sqs-1"
    assert (first["counts"]["fresh"], len(first["objects"])) == (2, 2)
    assert "events" not in first
    assert repeat["objects"] == []
    assert repeat["duplicates"][0] == claim_id
    assert (repeat["counts"]["fresh"], repeat["counts"]["duplicates"]) == (0, 2)


@pytest.mark.parametrize(
    ("error_field", "judged_again"),
    [("$", True), ("lines.2", False)],
    ids=["rejected-whole", "some-lines-left-out"],
)
def test_an_object_rejected_whole_beside_a_delivered_one_is_judged_again_when_re_uploaded(
    *,
    load_handler: HandlerLoader,
    dedupe: ModuleType,
    lambda_context: FakeLambdaContext,
    error_field: str,
    judged_again: bool,
) -> None:
    first = dedupe.lambda_handler(objects_envelope("sqs-1"), lambda_context)
    binary_id, delivered_id = (
        f"s3://{ref['bucket']}/{ref['key']}#{ref['etag']}" for ref in first["objects"]
    )
    # What the workflow records once bundle refused the first object and delivered the other.
    rejection = {
        "index": 0,
        "eventId": binary_id,
        "errors": [{"field": error_field, "reason": "x"}],
    }
    load_handler("update_status").lambda_handler(
        {**first, "status": "DELIVERED", "rejected": [rejection]}, lambda_context
    )

    # The same bytes landed again under the same key: the same claim id.
    again = dedupe.lambda_handler(objects_envelope("sqs-2"), lambda_context)

    claimed = [f"s3://{ref['bucket']}/{ref['key']}#{ref['etag']}" for ref in again["objects"]]
    assert claimed == ([binary_id] if judged_again else [])
    assert delivered_id in again["duplicates"]
