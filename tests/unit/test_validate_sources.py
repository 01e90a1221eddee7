"""Pipes batches into validate's envelope: every message ends up in the envelope or rejected with
its messageId, never dropped and never failing the batch."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from pydantic import ValidationError

from functions._shared.pipe_batches import batch_tracking_id
from functions.validate.sources import PipeBatch, read_pipe_batch
from tests.events import load_event

VALID_EVENTS: list[dict[str, Any]] = load_event("ingest_envelope.json")["events"][:4]


def record(message_id: str, body: Any) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "messageId": message_id,
        "receiptHandle": "AQEB==",
        "body": text,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:stepflow-test-ingest",
        "awsRegion": "us-east-1",
    }


def read(records: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    envelope, test_events = read_pipe_batch(PipeBatch.model_validate(records))
    return envelope.to_payload(), test_events


def an_event(index: int = 0) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(VALID_EVENTS[index])
    return event


def s3_record(key: str, etag: str = "abc", name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "eventName": name,
        "s3": {
            "bucket": {"name": "stepflow-test-landing"},
            "object": {"key": key, "size": 12, "eTag": etag},
        },
    }


def uuids(payload: dict[str, Any]) -> list[str]:
    return [event["eventHeader"]["uuid"] for event in payload["events"]]


# --- Events ------------------------------------------------------------------------------------


def test_the_sample_batch_reads_every_kind_of_body() -> None:
    payload, test_events = read(load_event("pipe_batch_events.json"))

    assert payload["source"] == "queue"
    assert uuids(payload) == [event["eventHeader"]["uuid"] for event in VALID_EVENTS[:3]]
    assert payload["counts"] == {"received": 5, "valid": 3, "rejected": 2}
    assert [
        (rejection["index"], rejection["messageId"], rejection["errors"][0]["field"])
        for rejection in payload["rejected"]
    ] == [
        (2, "6f1c2b1e-7a52-4c2e-9d8e-0f0a1b2c3d02", "eventHeader.createdDate"),
        (3, "6f1c2b1e-7a52-4c2e-9d8e-0f0a1b2c3d03", "$"),
    ]
    assert "not valid JSON" in payload["rejected"][1]["errors"][0]["reason"]
    assert test_events == 0
    assert "objects" not in payload


def test_a_batch_of_one_envelope_keeps_its_tracking_id() -> None:
    payload, _ = read(load_event("pipe_batch_envelope.json"))

    assert payload["trackingId"] == "trk-producer-20240302-01"
    assert payload["source"] == "queue"
    assert payload["counts"] == {"received": 2, "valid": 2, "rejected": 0}


def test_any_other_batch_gets_a_tracking_id_derived_from_its_message_ids() -> None:
    records = load_event("pipe_batch_events.json")

    payload, _ = read(records)
    redelivered, _ = read(list(reversed(records)))

    ids = sorted(item["messageId"] for item in records)
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    assert payload["trackingId"] == f"sqs-{digest[:16]}" == redelivered["trackingId"]
    assert batch_tracking_id(ids) == payload["trackingId"]


def test_two_envelopes_in_one_batch_share_the_batch_tracking_id() -> None:
    records = [
        record("m-1", {"trackingId": "trk-a", "events": [an_event(0)]}),
        record("m-2", {"trackingId": "trk-b", "events": [an_event(1)]}),
    ]

    payload, _ = read(records)

    assert payload["trackingId"] == batch_tracking_id(["m-1", "m-2"])
    assert uuids(payload) == uuids({"events": VALID_EVENTS[:2]})


def test_an_envelope_without_tracking_id_is_read_for_its_events() -> None:
    payload, _ = read([record("m-1", {"events": [an_event()]})])

    assert payload["trackingId"] == batch_tracking_id(["m-1"])
    assert payload["counts"]["valid"] == 1


@pytest.mark.parametrize(
    ("envelope", "field", "reason"),
    [
        ({"trackingId": "t", "events": {"a": 1}}, "events", "must be a JSON array of events"),
        ({"trackingId": "  ", "events": []}, "trackingId", "must not be blank"),
        ({"trackingId": 7, "events": []}, "trackingId", "must be a string, got number"),
    ],
)
def test_a_malformed_envelope_body_is_a_rejection_of_its_message(
    envelope: dict[str, Any], field: str, reason: str
) -> None:
    payload, _ = read([record("m-bad", envelope), record("m-ok", an_event())])

    assert payload["counts"] == {"received": 2, "valid": 1, "rejected": 1}
    (rejection,) = payload["rejected"]
    assert (rejection["index"], rejection["messageId"]) == (0, "m-bad")
    assert rejection["errors"][0]["field"] == field
    assert rejection["errors"][0]["reason"].startswith(reason)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "the message body is not valid JSON"),
        ("<xml/>", "the message body is not valid JSON"),
        ('{"a": NaN}', "the message body is not valid JSON: NaN"),
        ("[" * 1000, "the message body is nested 1000 levels deep"),
    ],
    ids=["empty", "xml", "nan", "deep"],
)
def test_a_body_that_is_not_json_is_a_rejection_naming_the_message(body: str, reason: str) -> None:
    payload, _ = read([record("m-1", body)])

    assert payload["events"] == []
    assert payload["rejected"] == [
        {
            "index": 0,
            "eventId": None,
            "errors": [{"field": "$", "reason": payload["rejected"][0]["errors"][0]["reason"]}],
            "messageId": "m-1",
        }
    ]
    assert payload["rejected"][0]["errors"][0]["reason"].startswith(reason)


@pytest.mark.parametrize(("body", "given"), [("42", "number"), ('"text"', "string")])
def test_json_that_is_not_an_event_is_a_rejection(body: str, given: str) -> None:
    payload, _ = read([record("m-1", body)])

    assert payload["rejected"][0]["errors"] == [
        {"field": "$", "reason": f"must be a JSON object, got {given}"}
    ]
    assert payload["rejected"][0]["messageId"] == "m-1"


def test_indexes_count_every_received_item_in_order() -> None:
    bad = an_event(2)
    del bad["eventHeader"]["eventName"]
    records = [
        record("m-1", [an_event(0), bad]),
        record("m-2", "not json"),
        record("m-3", an_event(1)),
    ]

    payload, _ = read(records)

    assert [(item["index"], item["messageId"]) for item in payload["rejected"]] == [
        (1, "m-1"),
        (2, "m-2"),
    ]
    assert payload["counts"] == {"received": 4, "valid": 2, "rejected": 2}


def test_a_uuid_repeated_across_messages_is_rejected_like_inside_a_batch() -> None:
    payload, _ = read([record("m-1", an_event(0)), record("m-2", an_event(0))])

    (rejection,) = payload["rejected"]
    assert (rejection["index"], rejection["messageId"]) == (1, "m-2")
    assert rejection["errors"][0]["field"] == "eventHeader.uuid"


def test_events_are_normalised_as_validate_always_does() -> None:
    event = an_event(1)  # createdDate with a +01:00 offset

    payload, _ = read([record("m-1", event)])

    assert payload["events"][0]["eventHeader"]["createdDate"] == "2024-03-02T10:40:00Z"


# --- S3 notifications --------------------------------------------------------------------------


def test_the_sample_notifications_become_objects() -> None:
    payload, test_events = read(load_event("s3_notification_batch.json"))

    assert payload["source"] == "s3"
    assert payload["objects"] == [
        {
            "bucket": "stepflow-dev-landing",
            "key": "landed/2024/03/02/cars and trucks(1).ndjson",
            "etag": "0f343b0931126a20f133d67c2b018a3b",
            "size": 2048,
        },
        {
            "bucket": "stepflow-dev-landing",
            "key": "landed/2024/03/02/loans.ndjson.gz",
            "etag": "d41d8cd98f00b204e9800998ecf8427e-2",
            "size": 10485760,
        },
    ]
    assert "events" not in payload
    assert test_events == 1
    assert payload["counts"] == {"received": 3, "valid": 2, "rejected": 1}
    (rejection,) = payload["rejected"]
    assert rejection["messageId"] == "9a1e5f3c-2b4d-4e6f-8a0b-1c2d3e4f5a03"
    assert rejection["errors"][0]["field"] == "Records.0.eventName"
    assert payload["trackingId"].startswith("sqs-")


@pytest.mark.parametrize(
    ("sent", "decoded"),
    [
        ("a+b.json", "a b.json"),
        ("caf%C3%A9/%E2%82%AC.json", "café/€.json"),
        ("100%25.json", "100%.json"),
        ("x%2By.json", "x+y.json"),
    ],
)
def test_keys_are_url_decoded(sent: str, decoded: str) -> None:
    payload, _ = read([record("m-1", {"Records": [s3_record(sent)]})])

    assert payload["objects"][0]["key"] == decoded


def test_quoted_etags_are_unquoted() -> None:
    payload, _ = read([record("m-1", {"Records": [s3_record("k", etag='"abc"')]})])

    assert payload["objects"][0]["etag"] == "abc"


def test_a_batch_of_only_test_events_is_an_empty_objects_envelope() -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}

    payload, test_events = read([record("m-1", test_event), record("m-2", test_event)])

    assert (payload["objects"], payload["rejected"], test_events) == ([], [], 2)
    assert payload["counts"] == {"received": 0, "valid": 0, "rejected": 0}


def test_a_notification_record_missing_fields_is_rejected_naming_them() -> None:
    broken = s3_record("k")
    del broken["s3"]["object"]["eTag"]
    broken["s3"]["object"]["size"] = "12"

    payload, _ = read([record("m-1", {"Records": [s3_record("ok"), broken]})])

    assert [item["key"] for item in payload["objects"]] == ["ok"]
    (rejection,) = payload["rejected"]
    assert rejection["index"] == 1
    assert {error["field"] for error in rejection["errors"]} == {
        "Records.1.s3.object.size",
        "Records.1.s3.object.eTag",
    }


def test_other_bodies_in_a_notification_batch_are_rejected() -> None:
    payload, _ = read(
        [
            record("m-1", {"Records": [s3_record("k")]}),
            record("m-2", an_event()),
            record("m-3", "x"),
        ]
    )

    assert len(payload["objects"]) == 1
    assert [(item["index"], item["messageId"]) for item in payload["rejected"]] == [
        (1, "m-2"),
        (2, "m-3"),
    ]
    assert payload["rejected"][0]["errors"][0]["reason"].startswith(
        "must be an S3 event notification"
    )


def test_a_key_that_decodes_to_blank_is_rejected() -> None:
    payload, _ = read([record("m-1", {"Records": [s3_record("+")]})])

    assert payload["objects"] == []
    assert payload["rejected"][0]["errors"][0]["field"] == "Records.0.s3.object.key"


# --- Not a Pipes batch -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "records",
    [[], [1, 2], [{"body": "{}"}], [{"messageId": "m", "body": {"not": "text"}}]],
    ids=["empty", "numbers", "no-message-id", "body-not-text"],
)
def test_records_that_are_not_sqs_messages_are_not_a_batch(records: list[Any]) -> None:
    with pytest.raises(ValidationError):
        PipeBatch.model_validate(records)
