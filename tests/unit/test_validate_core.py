"""validate's rules: every kind of bad input is rejected with its field, nothing ever crashes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from functions._shared.json_values import MAX_JSON_DEPTH
from functions._shared.models import Event, EventType, IngestEnvelope
from functions.validate.core import (
    MAX_ERRORS_PER_EVENT,
    check_event,
    validate_batch,
    validate_envelope,
)
from tests.events import load_event, load_example

EVENT_UUID = "550e8400-e29b-41d4-a716-446655440000"


def valid_event(**header_changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load_example("event.json"))
    event["eventHeader"].update(header_changes)
    return event


def errors_of(raw_event: object) -> dict[str, str]:
    verdict = check_event(raw_event)
    assert isinstance(verdict, list), f"expected a rejection, got {verdict!r}"
    return {error.field: error.reason for error in verdict}


def without(event: dict[str, Any], dotted_path: str) -> dict[str, Any]:
    *parents, leaf = dotted_path.split(".")
    holder: Any = event
    for part in parents:
        holder = holder[int(part)] if part.isdigit() else holder[part]
    del holder[leaf]
    return event


def test_the_seed_example_is_valid_and_keeps_its_own_attributes() -> None:
    verdict = check_event(valid_event())

    assert isinstance(verdict, Event)
    dumped = verdict.model_dump(mode="json", by_alias=True)
    assert dumped == load_example("event.json")


def test_dates_are_normalised_to_utc_with_a_trailing_z() -> None:
    event = valid_event(
        createdDate="2024-01-15T12:30:00+02:00", savedDate="2024-01-15T10:30:05.250Z"
    )
    event["entities"][0]["entityHeader"]["updatedAt"] = "2024-01-15T05:45:00-05:00"

    [normalised] = validate_batch([event]).valid

    assert normalised["eventHeader"]["createdDate"] == "2024-01-15T10:30:00Z"
    assert normalised["eventHeader"]["savedDate"] == "2024-01-15T10:30:05.250Z"
    assert normalised["entities"][0]["entityHeader"]["updatedAt"] == "2024-01-15T10:45:00Z"


def test_uuid_is_normalised_to_lower_case_and_event_type_kept() -> None:
    [normalised] = validate_batch([valid_event(uuid=EVENT_UUID.upper())]).valid

    assert normalised["eventHeader"]["uuid"] == EVENT_UUID
    assert normalised["eventHeader"]["eventType"] == "CarCreated"


def test_unknown_keys_are_kept_everywhere() -> None:
    event = valid_event(correlationId="abc")
    event["producer"] = "dealer-portal"
    event["entities"][0]["entityHeader"]["version"] = 3

    [normalised] = validate_batch([event]).valid

    assert normalised["producer"] == "dealer-portal"
    assert normalised["eventHeader"]["correlationId"] == "abc"
    assert normalised["entities"][0]["entityHeader"]["version"] == 3


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_known_event_type_is_accepted(event_type: EventType) -> None:
    assert isinstance(check_event(valid_event(eventType=event_type.value)), Event)


@pytest.mark.parametrize(
    "missing_field",
    [
        "eventHeader",
        "entities",
        "eventHeader.uuid",
        "eventHeader.eventName",
        "eventHeader.eventType",
        "eventHeader.createdDate",
        "eventHeader.savedDate",
        "entities.0.entityHeader",
        "entities.0.entityHeader.entityId",
        "entities.0.entityHeader.entityType",
        "entities.0.entityHeader.createdAt",
        "entities.0.entityHeader.updatedAt",
    ],
)
def test_a_missing_field_is_named(missing_field: str) -> None:
    assert errors_of(without(valid_event(), missing_field)) == {missing_field: "is required"}


@pytest.mark.parametrize(
    ("header_field", "value", "reason"),
    [
        ("uuid", "not-a-uuid", "must be a UUID like"),
        ("uuid", 12345, "must be a string, got number"),
        ("uuid", EVENT_UUID.replace("-", ""), "must be a UUID like"),
        ("eventName", "", "must not be empty"),
        ("eventName", "   ", "must not be blank"),
        ("eventName", None, "must be a string, got null"),
        ("eventName", "x" * 257, "must be at most 256 characters long"),
        ("eventType", "CarSold", "unknown event type 'CarSold'; expected one of CarCreated"),
        ("eventType", "carcreated", "unknown event type"),
        ("eventType", ["CarCreated"], "must be a string, got array"),
        ("createdDate", "2024-01-15", "must be an ISO-8601 date-time"),
        ("createdDate", "15/01/2024 10:30", "must be an ISO-8601 date-time"),
        ("createdDate", 1705314600, "must be a string, got number"),
        ("createdDate", "2024-01-15T10:30:00", "must state its UTC offset"),
        ("createdDate", "2024-02-30T10:30:00Z", "is not a valid date-time"),
        ("createdDate", "2024-01-15T25:00:00Z", "is not a valid date-time"),
        ("savedDate", True, "must be a string, got boolean"),
    ],
)
def test_a_mistyped_header_field_is_named_with_its_reason(
    header_field: str, value: object, reason: str
) -> None:
    errors = errors_of(valid_event(**{header_field: value}))

    assert list(errors) == [f"eventHeader.{header_field}"]
    assert reason in errors[f"eventHeader.{header_field}"]


def test_saved_date_before_created_date_is_rejected() -> None:
    errors = errors_of(
        valid_event(createdDate="2024-01-15T10:30:00Z", savedDate="2024-01-15T10:29:59Z")
    )

    assert errors == {
        "eventHeader.savedDate": "must not be before createdDate (2024-01-15T10:30:00Z)"
    }


def test_dates_are_compared_in_utc_not_as_text() -> None:
    # 11:00+02:00 is 09:00Z: before 10:00Z although its text sorts after it.
    errors = errors_of(
        valid_event(createdDate="2024-01-15T10:00:00Z", savedDate="2024-01-15T11:00:00+02:00")
    )

    assert list(errors) == ["eventHeader.savedDate"]


def test_saved_date_equal_to_created_date_is_fine() -> None:
    moment = "2024-01-15T10:30:00Z"
    assert isinstance(check_event(valid_event(createdDate=moment, savedDate=moment)), Event)


def test_entity_updated_before_created_is_rejected() -> None:
    event = valid_event()
    event["entities"][0]["entityHeader"]["updatedAt"] = "2024-01-14T10:30:00Z"

    assert list(errors_of(event)) == ["entities.0.entityHeader.updatedAt"]


def test_every_wrong_field_is_listed_not_only_the_first() -> None:
    event = valid_event(uuid="x", eventName="", eventType="Nope", savedDate="later")
    event["entities"].append({"entityHeader": {"entityId": 7, "entityType": "Car"}})

    assert set(errors_of(event)) == {
        "eventHeader.uuid",
        "eventHeader.eventName",
        "eventHeader.eventType",
        "eventHeader.savedDate",
        "entities.1.entityHeader.entityId",
        "entities.1.entityHeader.createdAt",
        "entities.1.entityHeader.updatedAt",
    }


@pytest.mark.parametrize(
    ("entities", "field", "reason"),
    [
        ([], "entities", "must hold at least one entity"),
        ({"entityHeader": {}}, "entities", "must be a JSON array, got object"),
        ("car", "entities", "must be a JSON array, got string"),
        ([None], "entities.0", "must be a JSON object, got null"),
        ([42], "entities.0", "must be a JSON object, got number"),
        ([{"entityHeader": []}], "entities.0.entityHeader", "must be a JSON object, got array"),
    ],
)
def test_bad_entities_are_named(entities: object, field: str, reason: str) -> None:
    event = valid_event()
    event["entities"] = entities

    assert errors_of(event) == {field: reason}


@pytest.mark.parametrize(
    ("junk", "json_type"),
    [
        ("a string", "string"),
        (42, "number"),
        (4.2, "number"),
        (None, "null"),
        (False, "boolean"),
        ([{"eventHeader": {}}], "array"),
    ],
)
def test_junk_instead_of_an_event_is_rejected_as_a_whole(junk: object, json_type: str) -> None:
    assert errors_of(junk) == {"$": f"must be a JSON object, got {json_type}"}


def test_header_of_the_wrong_shape_is_named() -> None:
    assert errors_of({"eventHeader": "header", "entities": [1]}) == {
        "eventHeader": "must be a JSON object, got string",
        "entities.0": "must be a JSON object, got number",
    }


def test_fields_are_read_by_their_camel_case_names_only() -> None:
    event = valid_event()
    event["event_header"] = event.pop("eventHeader")

    assert errors_of(event) == {"eventHeader": "is required"}


def test_deeply_nested_attributes_are_rejected_naming_the_field_not_crashing() -> None:
    # Nesting deeper than the HTTP and queue parsers allow is refused here too, for events
    # that reach validate another way (an execution started directly), so both agree.
    nested: Any = {"leaf": None}
    for _ in range(300):
        nested = {"inner": [nested]}
    event = valid_event()
    event["entities"][0]["history"] = nested

    envelope = IngestEnvelope.model_validate({"trackingId": "trk-1", "events": [event]})
    payload = validate_envelope(envelope).to_payload()

    assert payload["events"] == []
    [rejection] = payload["rejected"]
    [error] = rejection["errors"]
    assert error["field"].startswith("entities.0.history.inner.0.")
    assert error["reason"] == (
        f"is nested {MAX_JSON_DEPTH + 1} levels deep; at most {MAX_JSON_DEPTH} levels are allowed"
    )


def test_attributes_nested_up_to_the_limit_pass_unchanged() -> None:
    nested: Any = {"leaf": None}
    for _ in range((MAX_JSON_DEPTH - 4) // 2 - 1):
        nested = {"inner": [nested]}
    event = valid_event()
    event["entities"][0]["history"] = nested

    envelope = IngestEnvelope.model_validate({"trackingId": "trk-1", "events": [event]})
    [normalised] = validate_envelope(envelope).to_payload()["events"]

    assert normalised["entities"][0]["history"] is nested


def test_errors_per_event_are_capped_and_the_rest_counted() -> None:
    event = valid_event()
    event["entities"] = [None] * (MAX_ERRORS_PER_EVENT + 30)

    verdict = check_event(event)

    assert isinstance(verdict, list)
    assert len(verdict) == MAX_ERRORS_PER_EVENT + 1
    assert verdict[-1].field == "$"
    assert verdict[-1].reason == "30 more errors not listed"


def test_empty_batch_gives_no_events_and_zero_counts() -> None:
    envelope = IngestEnvelope.model_validate({"trackingId": "trk-1", "source": "api", "events": []})

    result = validate_envelope(envelope).to_payload()

    assert result == {
        "trackingId": "trk-1",
        "source": "api",
        "events": [],
        "rejected": [],
        "duplicates": [],
        "counts": {"received": 0, "valid": 0, "rejected": 0},
        "carried": [],
    }


def test_a_repeated_uuid_keeps_the_first_and_rejects_the_later_ones() -> None:
    first = valid_event(eventName="first")
    second = valid_event(uuid=EVENT_UUID.upper(), eventName="second")
    third = valid_event(eventName="third")

    verdict = validate_batch([first, second, third])

    assert [event["eventHeader"]["eventName"] for event in verdict.valid] == ["first"]
    assert [(rejection.index, rejection.event_id) for rejection in verdict.rejected] == [
        (1, EVENT_UUID),
        (2, EVENT_UUID),
    ]
    assert verdict.rejected[0].errors[0].field == "eventHeader.uuid"
    assert "index 0" in verdict.rejected[0].errors[0].reason


def test_an_invalid_first_occurrence_does_not_shadow_a_valid_repeat() -> None:
    broken = valid_event(eventType="Nope")
    fixed = valid_event()

    verdict = validate_batch([broken, fixed])

    assert len(verdict.valid) == 1
    assert [rejection.index for rejection in verdict.rejected] == [0]


def test_rejection_names_the_event_id_only_when_it_is_a_uuid() -> None:
    verdict = validate_batch([valid_event(eventType="Nope"), valid_event(uuid="x"), "junk"])

    assert [rejection.event_id for rejection in verdict.rejected] == [EVENT_UUID, None, None]


def test_envelope_keys_validate_does_not_own_pass_through() -> None:
    envelope = IngestEnvelope.model_validate(
        {"trackingId": "trk-1", "events": [], "idempotencyKey": "k-1"}
    )

    result = validate_envelope(envelope).to_payload()

    assert result["idempotencyKey"] == "k-1"
    assert result["source"] == "unknown"


def test_the_sample_batch_splits_as_documented() -> None:
    envelope = IngestEnvelope.model_validate(load_event("ingest_envelope.json"))

    result = validate_envelope(envelope).to_payload()

    assert result == load_event("validated_envelope.json")
    assert result["counts"] == {"received": 6, "valid": 4, "rejected": 2}


def test_the_junk_sample_is_all_rejected_without_crashing() -> None:
    envelope = IngestEnvelope.model_validate(load_event("ingest_envelope_junk.json"))

    result = validate_envelope(envelope)

    assert result.events == []
    assert result.counts["rejected"] == result.counts["received"] == len(envelope.events)
