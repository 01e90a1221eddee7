"""validate's Lambda: sample events in, the contract's envelope out; junk never crashes it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from functions._shared.errors import InvalidEnvelopeError
from tests.events import load_event, load_example
from tests.functional.conftest import FakeLambdaContext, HandlerLoader, emitted_metrics


def test_the_sample_batch_is_split_into_valid_and_rejected(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("validate")

    result = handler.lambda_handler(load_event("ingest_envelope.json"), lambda_context)

    assert result == load_event("validated_envelope.json")
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


@pytest.mark.parametrize(
    "batch",
    [[], [{"body": "{}"}], [{"messageId": "m-1"}]],
    ids=["empty", "no-message-id", "no-body"],
)
def test_an_array_that_is_not_a_pipes_batch_fails_the_invocation(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext, batch: list[Any]
) -> None:
    handler = load_handler("validate")

    with pytest.raises(InvalidEnvelopeError, match="PipeBatch"):
        handler.lambda_handler(batch, lambda_context)
