"""validate's Lambda: sample events in, the contract's envelope out; junk never crashes it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions._shared.errors import InvalidEnvelopeError
from tests.events import load_event, load_example
from tests.functional.conftest import (
    QUARANTINE_BUCKET,
    FakeLambdaContext,
    HandlerLoader,
    emitted_metrics,
)

# Every rejection keeps its input in the quarantine bucket.
pytestmark = pytest.mark.usefixtures("quarantine_bucket")


def without_quarantine_keys(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` without the keys that carry the day they were written."""
    rejected = [
        {key: value for key, value in rejection.items() if key != "quarantineKey"}
        for rejection in result["rejected"]
    ]
    return {**result, "rejected": rejected}


def test_the_sample_batch_is_split_into_valid_and_rejected(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")

    result = handler.lambda_handler(load_event("ingest_envelope.json"), lambda_context)

    assert without_quarantine_keys(result) == load_event("validated_envelope.json")
    assert [rejection["index"] for rejection in result["rejected"]] == [4, 5]
    fields_of_last = [error["field"] for error in result["rejected"][1]["errors"]]
    assert fields_of_last == [
        "eventHeader.uuid",
        "eventHeader.eventType",
        "eventHeader.createdDate",
        "entities.0.entityHeader.entityId",
    ]


def test_a_batch_of_junk_is_rejected_event_by_event(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")
    envelope = load_event("ingest_envelope_junk.json")

    result = handler.lambda_handler(envelope, lambda_context)

    assert result["events"] == []
    assert result["counts"] == {"received": 9, "valid": 0, "rejected": 9}
    assert [rejection["index"] for rejection in result["rejected"]] == list(range(9))
    last_fields = {error["field"] for error in result["rejected"][-1]["errors"]}
    assert last_fields == {"entities.0", "entities.1", "entities.2.entityHeader.updatedAt"}


def test_the_user_examples_hold_four_valid_events_and_one_single_event(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")
    batch = {"trackingId": "trk-examples", "source": "cli", "events": load_example("events.json")}
    single = {"trackingId": "trk-example", "source": "cli", "events": [load_example("event.json")]}

    assert handler.lambda_handler(batch, lambda_context)["counts"]["valid"] == 4
    assert handler.lambda_handler(single, lambda_context)["counts"] == {
        "received": 1,
        "valid": 1,
        "rejected": 0,
    }


@pytest.mark.parametrize(
    "envelope",
    [load_event("malformed_envelope.json"), None, "junk", [1, 2], {"trackingId": "t"}],
    ids=["sample", "null", "string", "array", "no-events"],
)
def test_only_a_malformed_envelope_fails_the_invocation(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext, envelope: object
) -> None:
    handler = load_handler("validate")

    with pytest.raises(InvalidEnvelopeError):
        handler.lambda_handler(envelope, lambda_context)


def test_counts_are_published_as_metrics(
    load_handler: HandlerLoader,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = load_handler("validate")
    capsys.readouterr()

    handler.lambda_handler(load_event("ingest_envelope.json"), lambda_context)

    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["EventsReceived"] == 6
    assert metrics["EventsRejected"] == 2


def test_logs_carry_the_tracking_id_as_correlation_id(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")
    envelope = copy.deepcopy(load_event("ingest_envelope.json"))

    handler.lambda_handler(envelope, lambda_context)

    assert handler.logger.get_correlation_id() == envelope["trackingId"]


# --- Pipes batches (issue 3) -------------------------------------------------------------------


def test_a_pipes_batch_of_events_becomes_the_envelope_with_rejections_per_message(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")

    result = handler.lambda_handler(load_event("pipe_batch_events.json"), lambda_context)

    assert result["source"] == "queue"
    assert result["trackingId"].startswith("sqs-")
    assert result["counts"] == {"received": 5, "valid": 3, "rejected": 2}
    assert [rejection["messageId"] for rejection in result["rejected"]] == [
        "6f1c2b1e-7a52-4c2e-9d8e-0f0a1b2c3d02",
        "6f1c2b1e-7a52-4c2e-9d8e-0f0a1b2c3d03",
    ]
    assert handler.logger.get_correlation_id() == result["trackingId"]


def test_a_redelivered_batch_maps_onto_the_same_tracking_id(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")
    batch = load_event("pipe_batch_events.json")

    first = handler.lambda_handler(batch, lambda_context)
    again = handler.lambda_handler(list(reversed(batch)), lambda_context)

    assert first["trackingId"] == again["trackingId"]


def test_a_batch_of_one_envelope_keeps_the_producers_tracking_id(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")

    result = handler.lambda_handler(load_event("pipe_batch_envelope.json"), lambda_context)

    assert result["trackingId"] == "trk-producer-20240302-01"
    assert result["counts"]["valid"] == 2


def test_s3_notifications_become_an_envelope_of_objects(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")

    result = handler.lambda_handler(load_event("s3_notification_batch.json"), lambda_context)

    assert result["source"] == "s3"
    assert "events" not in result
    assert [item["key"] for item in result["objects"]] == [
        "landed/2024/03/02/cars and trucks(1).ndjson",
        "landed/2024/03/02/loans.ndjson.gz",
    ]
    assert result["counts"] == {"received": 3, "valid": 2, "rejected": 1}


def test_a_batch_of_junk_bodies_never_fails_the_invocation(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")
    bodies = ["", "null", "[", "\x00\xff", "[" * 10_000, '{"Records": "x"}', '{"events": 1}']
    batch = [
        {"messageId": f"m-{index}", "body": body, "eventSource": "aws:sqs"}
        for index, body in enumerate(bodies)
    ]

    result = handler.lambda_handler(batch, lambda_context)

    assert result["counts"]["rejected"] == len(bodies)
    assert {rejection["messageId"] for rejection in result["rejected"]} == {
        f"m-{index}" for index in range(len(bodies))
    }


def test_an_empty_array_is_not_a_pipes_batch_and_fails_the_invocation(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")

    with pytest.raises(InvalidEnvelopeError, match="PipeBatch"):
        handler.lambda_handler([], lambda_context)


@pytest.mark.parametrize(
    ("malformed", "reason"),
    [
        ({"body": "{}"}, "the SQS record has no messageId"),
        ({"messageId": "m-1"}, "the SQS record is malformed: body: is required"),
        ({"messageId": " ", "body": "{}"}, "the SQS record is malformed: messageId"),
    ],
    ids=["no-message-id", "no-body", "blank-message-id"],
)
def test_a_malformed_record_is_rejected_alone_and_kept(
    load_handler: HandlerLoader,
    lambda_context: FakeLambdaContext,
    quarantine_bucket: Any,
    malformed: dict[str, Any],
    reason: str,
) -> None:
    handler = load_handler("validate")
    good = {"messageId": "m-good", "body": json.dumps(load_example("event.json"))}

    result = handler.lambda_handler([good, malformed], lambda_context)

    assert result["counts"] == {"received": 2, "valid": 1, "rejected": 1}
    [rejection] = result["rejected"]
    assert rejection["errors"][0]["reason"].startswith(reason)
    kept = quarantine_bucket.get_object(Bucket=QUARANTINE_BUCKET, Key=rejection["quarantineKey"])
    assert json.loads(kept["Body"].read()) == malformed
    assert kept["Metadata"]["reason"].startswith("events.1: " + reason)


def test_a_rejected_message_is_kept_verbatim_with_its_reason_and_origin(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext, quarantine_bucket: Any
) -> None:
    handler = load_handler("validate")
    poison = '{"year": 1e400, "x": "caf\u00e9"}'
    source_arn = "arn:aws:sqs:us-east-1:123456789012:stepflow-test-ingest"
    batch = [
        {"messageId": "m-1", "body": json.dumps(load_example("event.json"))},
        {"messageId": "m-2", "body": poison, "eventSourceARN": source_arn},
    ]

    result = handler.lambda_handler(batch, lambda_context)

    [rejection] = result["rejected"]
    key = rejection["quarantineKey"]
    assert key.startswith("quarantine/queue/")
    assert key.endswith("/m-2")
    kept = quarantine_bucket.get_object(Bucket=QUARANTINE_BUCKET, Key=key)
    assert kept["Body"].read() == poison.encode()
    assert kept["Metadata"]["message-id"] == "m-2"
    assert kept["Metadata"]["origin"] == source_arn
    assert kept["Metadata"]["tracking-id"] == result["trackingId"]
    assert "not a finite number" in kept["Metadata"]["reason"]


def test_each_rejected_event_of_an_api_execution_is_kept_alone(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext, quarantine_bucket: Any
) -> None:
    handler = load_handler("validate")
    envelope = load_event("ingest_envelope.json")

    result = handler.lambda_handler(envelope, lambda_context)

    for rejection in result["rejected"]:
        key = rejection["quarantineKey"]
        assert key.startswith("quarantine/api/")
        kept = quarantine_bucket.get_object(Bucket=QUARANTINE_BUCKET, Key=key)
        assert json.loads(kept["Body"].read()) == envelope["events"][rejection["index"]]
        assert kept["Metadata"]["tracking-id"] == envelope["trackingId"]


def test_a_rejection_is_never_reported_without_its_input_kept(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext, quarantine_bucket: Any
) -> None:
    handler = load_handler("validate")
    quarantine_bucket.delete_bucket(Bucket=QUARANTINE_BUCKET)

    with pytest.raises(ClientError, match="NoSuchBucket"):
        handler.lambda_handler([{"messageId": "m-1", "body": "not JSON"}], lambda_context)
