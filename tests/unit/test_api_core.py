"""The API's core: shapes, validate's rules, the size limit, RECEIVED before the start."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from functions._shared import names
from functions._shared.errors import ConfigurationError
from functions._shared.settings import load_settings
from functions.api.core import (
    MAX_EXECUTION_INPUT_BYTES,
    TRACKING_ID_PATTERN,
    ApiSettings,
    bulk_events,
    new_tracking_id,
    prepare_submission,
    read_status,
    require_valid,
    single_event,
    start_ingest,
)
from functions.api.errors import ApiError, DependencyUnavailableError
from tests.events import load_event

NOW = datetime(2024, 3, 2, 9, 15, tzinfo=UTC)
TRACKING_ID = "trk-0123456789abcdef0123456789abcdef"
VALID_EVENTS: list[dict[str, Any]] = load_event("ingest_envelope.json")["events"][:4]


def an_event(index: int = 0) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(VALID_EVENTS[index])
    return event


class RecordingStarter:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.started: list[tuple[str, str]] = []

    def start(self, name: str, execution_input: str) -> str:
        if self.fail:
            raise DependencyUnavailableError("start of the ingest workflow failed: Throttling")
        self.started.append((name, execution_input))
        return f"arn:aws:states:us-east-1:123456789012:execution:ingest:{name}"


class InMemoryStatuses:
    """:class:`functions.api.core.StatusRecorder` in a dict of ``tracking id -> (status, ...)``."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.records: dict[str, dict[str, Any]] = {}

    def record_received(self, tracking_id: str, count: int, at: str) -> None:
        self.records[tracking_id] = {"status": "RECEIVED", "count": count, "at": at}

    def record_start_failure(self, tracking_id: str, reason: str, at: str) -> None:
        if self.fail_on == "FAILED":
            raise DependencyUnavailableError("status table throttled")
        self.records[tracking_id] |= {"status": "FAILED", "reason": reason}


class OrderCheckingStarter(RecordingStarter):
    """Asserts that RECEIVED was stored before the workflow starts."""

    def __init__(self, statuses: InMemoryStatuses) -> None:
        super().__init__()
        self.statuses = statuses

    def start(self, name: str, execution_input: str) -> str:
        assert self.statuses.records[name]["status"] == "RECEIVED"
        return super().start(name, execution_input)


def refusal(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(
    ("body", "given"),
    [([], "array"), ("text", "string"), (42, "number"), (None, "null"), (True, "boolean")],
)
def test_post_events_takes_exactly_one_object(body: Any, given: str) -> None:
    error = refusal(single_event, body)

    assert error.status == 400
    assert error.errors == [{"field": "$", "reason": f"must be a JSON object, got {given}"}]


def test_a_list_on_post_events_points_at_bulk() -> None:
    assert "/events/bulk" in refusal(single_event, [an_event()]).message


@pytest.mark.parametrize("body", [{}, "x", 1, None], ids=["object", "string", "number", "null"])
def test_bulk_takes_only_an_array(body: Any) -> None:
    error = refusal(bulk_events, body, 100)

    assert error.status == 400
    assert error.errors[0]["reason"].startswith("must be a JSON array, got ")


def test_an_object_on_bulk_points_at_post_events() -> None:
    assert "post a single event to /events" in refusal(bulk_events, an_event(), 100).message


def test_an_empty_bulk_is_a_400() -> None:
    error = refusal(bulk_events, [], 100)

    assert error.errors == [{"field": "$", "reason": "must hold at least 1 event"}]


def test_a_bulk_over_the_maximum_is_a_400_saying_how_to_split() -> None:
    error = refusal(bulk_events, [an_event()] * 11, 5)

    assert error.status == 400
    assert error.errors == [{"field": "$", "reason": "must hold at most 5 events, got 11"}]
    assert "split them into 3 or more requests" in error.message


def test_a_bulk_at_the_maximum_is_fine() -> None:
    assert len(bulk_events([an_event()] * 5, 5)) == 5


def test_valid_events_pass() -> None:
    require_valid(VALID_EVENTS)


def test_every_wrong_field_of_every_event_is_named_with_its_index() -> None:
    missing_uuid = an_event(0)
    del missing_uuid["eventHeader"]["uuid"]
    bad_dates = an_event(2)
    bad_dates["eventHeader"]["createdDate"] = "2024-13-45T10:00:00Z"
    bad_dates["entities"][0]["entityHeader"]["entityType"] = 7

    error = refusal(require_valid, [missing_uuid, an_event(1), bad_dates])

    assert error.status == 400
    assert error.message == "2 of 3 events are invalid; nothing was started"
    assert [(entry["index"], entry["field"]) for entry in error.errors] == [
        (0, "eventHeader.uuid"),
        (2, "eventHeader.createdDate"),
        (2, "entities.0.entityHeader.entityType"),
    ]
    assert error.errors[0]["reason"] == "is required"
    assert error.errors[1]["reason"].startswith("is not a valid date-time")
    assert error.errors[2]["reason"] == "must be a string, got number"


def test_one_invalid_event_has_its_own_message() -> None:
    event = an_event()
    event["eventHeader"]["savedDate"] = "2024-03-02T09:14:00Z"

    error = refusal(require_valid, [event])

    assert error.message == "the event is invalid; nothing was started"
    assert error.errors[0]["field"] == "eventHeader.savedDate"
    assert "must not be before createdDate" in error.errors[0]["reason"]


def test_a_uuid_repeated_in_one_request_is_refused_as_validate_would() -> None:
    error = refusal(require_valid, [an_event(0), an_event(1), an_event(0)])

    assert error.errors == [
        {
            "index": 2,
            "field": "eventHeader.uuid",
            "reason": "repeats the uuid of the event at index 0 of this batch; only the first "
            "is kept",
        }
    ]


def test_the_execution_input_is_the_envelope_with_the_events_as_posted() -> None:
    events = [an_event(1)]

    submission = prepare_submission(events, TRACKING_ID, 100)

    assert json.loads(submission.execution_input) == {
        "trackingId": TRACKING_ID,
        "source": "api",
        "events": events,
    }
    assert submission.count == 1


def envelope_overhead() -> int:
    return len(prepare_submission([], TRACKING_ID, 100).execution_input.encode())


def events_of_size(total_bytes: int) -> list[Any]:
    # Two strings whose envelope is exactly ``total_bytes`` long (UTF-8, multi-byte included).
    padding = total_bytes - envelope_overhead() - len('"é",""'.encode())
    return ["é", "x" * padding]


def test_the_execution_input_may_be_exactly_the_limit() -> None:
    submission = prepare_submission(events_of_size(MAX_EXECUTION_INPUT_BYTES), TRACKING_ID, 100)

    assert len(submission.execution_input.encode()) == MAX_EXECUTION_INPUT_BYTES


def test_one_byte_over_the_limit_is_a_413_saying_the_limit_and_how_to_split() -> None:
    error = refusal(
        prepare_submission, events_of_size(MAX_EXECUTION_INPUT_BYTES + 1), TRACKING_ID, 100
    )

    assert error.status == 413
    assert "262,145 bytes" in error.message
    assert "at most 262,144 bytes" in error.message
    assert "split the events into several POST /events/bulk requests" in error.message
    assert "at most 100 events" in error.message


def test_a_single_event_over_the_limit_is_told_it_cannot_be_split() -> None:
    event = an_event()
    event["entities"][0]["notes"] = "x" * MAX_EXECUTION_INPUT_BYTES

    error = refusal(prepare_submission, [event], TRACKING_ID, 100)

    assert error.status == 413
    assert "one event cannot be larger" in error.message


def test_an_unpaired_surrogate_is_a_400_not_a_crash() -> None:
    error = refusal(prepare_submission, [{"make": "\ud800"}], TRACKING_ID, 100)

    assert error.status == 400
    assert "\\ud800" in error.message


def test_received_is_recorded_before_the_workflow_starts() -> None:
    statuses = InMemoryStatuses()
    starter = OrderCheckingStarter(statuses)
    submission = prepare_submission(VALID_EVENTS, TRACKING_ID, 100)

    ids = start_ingest(submission, starter, statuses, NOW)

    assert ids == {
        "executionId": f"arn:aws:states:us-east-1:123456789012:execution:ingest:{TRACKING_ID}",
        "trackingId": TRACKING_ID,
    }
    assert starter.started == [(TRACKING_ID, submission.execution_input)]
    assert statuses.records[TRACKING_ID] == {
        "status": "RECEIVED",
        "count": 4,
        "at": "2024-03-02T09:15:00Z",
    }


def test_a_failed_start_is_recorded_as_failed_and_raised() -> None:
    statuses = InMemoryStatuses()
    submission = prepare_submission(VALID_EVENTS, TRACKING_ID, 100)

    with pytest.raises(DependencyUnavailableError):
        start_ingest(submission, RecordingStarter(fail=True), statuses, NOW)

    record = statuses.records[TRACKING_ID]
    assert record["status"] == "FAILED"
    assert "could not be started" in record["reason"]
    assert "Throttling" in record["reason"]


def test_when_even_the_failure_cannot_be_recorded_the_start_error_still_surfaces() -> None:
    statuses = InMemoryStatuses(fail_on="FAILED")
    submission = prepare_submission(VALID_EVENTS, TRACKING_ID, 100)

    with pytest.raises(DependencyUnavailableError, match="Throttling"):
        start_ingest(submission, RecordingStarter(fail=True), statuses, NOW)

    assert statuses.records[TRACKING_ID]["status"] == "RECEIVED"


class OneRecord:
    def read(self, tracking_id: str) -> dict[str, Any] | None:
        return {"trackingId": tracking_id, "status": "ACCEPTED"} if tracking_id == "t-1" else None


def test_a_known_tracking_id_answers_its_record() -> None:
    assert read_status("t-1", OneRecord()) == {"trackingId": "t-1", "status": "ACCEPTED"}


def test_an_unknown_tracking_id_is_a_404() -> None:
    error = refusal(read_status, "t-2", OneRecord())

    assert (error.status, error.body()) == (404, {"message": "no such tracking id", "errors": []})


def test_tracking_ids_are_unique_valid_execution_names() -> None:
    ids = {new_tracking_id() for _ in range(100)}

    assert len(ids) == 100
    for tracking_id in ids:
        assert re.fullmatch(r"trk-[0-9a-f]{32}", tracking_id)
        assert len(tracking_id) <= 80  # Step Functions' limit on execution names
        assert re.fullmatch(TRACKING_ID_PATTERN, tracking_id)


@pytest.mark.parametrize(
    ("tracking_id", "matches"),
    [
        ("trk-0123", True),
        ("sqs-7e18f737311b2dc3", True),
        ("demo-1a2b3c", True),
        ("trk-20240302-7f3c9a", True),
        ("a" * 256, True),
        ("a" * 257, False),
        ("-leading-dash", False),
        ("has space", False),
        ("semi;colon", False),
        ("", False),
    ],
)
def test_the_tracking_id_pattern(tracking_id: str, matches: bool) -> None:
    assert (re.fullmatch(TRACKING_ID_PATTERN, tracking_id) is not None) is matches


def test_settings_default_the_bulk_maximum_to_100() -> None:
    settings = load_settings(
        ApiSettings,
        {
            names.STATUS_TABLE_ENV: "status",
            names.IDEMPOTENCY_TABLE_ENV: "idempotency",
            names.INTAKE_ENV: "per-request",
            names.INGEST_STATE_MACHINE_ENV: "arn:aws:states:us-east-1:1:stateMachine:ingest",
            names.ENRICHMENT_STATUS_TABLE_ENV: "enrichment-status",
            names.ENRICH_STATE_MACHINE_ENV: "arn:aws:states:us-east-1:1:stateMachine:enrich",
        },
    )

    assert settings.max_bulk_events == 100
    assert (settings.max_inline_products, settings.enrich_batch_size) == (1000, 20)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (names.INGEST_STATE_MACHINE_ENV, None, "INGEST_STATE_MACHINE_ARN is not set"),
        (names.INGEST_STATE_MACHINE_ENV, "ingest", "INGEST_STATE_MACHINE_ARN"),
        # Queued intake sends to the ingest queue, which this environment does not name.
        (names.INTAKE_ENV, "queued", "INGEST_QUEUE_URL is not set"),
        (names.INTAKE_ENV, "batched", "INTAKE"),
        (names.MAX_BULK_EVENTS_ENV, "0", "MAX_BULK_EVENTS"),
        (names.MAX_BULK_EVENTS_ENV, "many", "MAX_BULK_EVENTS"),
        (names.IDEMPOTENCY_TABLE_ENV, None, "IDEMPOTENCY_TABLE_NAME is not set"),
        (names.ENRICHMENT_STATUS_TABLE_ENV, None, "ENRICHMENT_STATUS_TABLE_NAME is not set"),
        (names.ENRICH_STATE_MACHINE_ENV, "enrich", "ENRICH_STATE_MACHINE_ARN"),
        (names.MAX_INLINE_PRODUCTS_ENV, "0", "MAX_INLINE_PRODUCTS"),
        (names.ENRICH_BATCH_SIZE_ENV, "101", "ENRICH_BATCH_SIZE"),
    ],
)
def test_a_wrong_setting_is_named(variable: str, value: str | None, message: str) -> None:
    environment = {
        names.STATUS_TABLE_ENV: "status",
        names.IDEMPOTENCY_TABLE_ENV: "idempotency",
        names.INTAKE_ENV: "per-request",
        names.INGEST_STATE_MACHINE_ENV: "arn:aws:states:us-east-1:1:stateMachine:ingest",
        names.ENRICHMENT_STATUS_TABLE_ENV: "enrichment-status",
        names.ENRICH_STATE_MACHINE_ENV: "arn:aws:states:us-east-1:1:stateMachine:enrich",
    }
    if value is None:
        del environment[variable]
    else:
        environment[variable] = value

    with pytest.raises(ConfigurationError, match=message):
        load_settings(ApiSettings, environment)
