"""update_status's rules: ranks only rise, statuses derive as documented, records stay small."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions._shared.status import STATUS_RANKS, Status, public_record, rank_of, supersedes
from functions.update_status.core import (
    MAX_STORED_DUPLICATES,
    MAX_STORED_ERRORS_PER_REJECTION,
    MAX_STORED_REASON_LENGTH,
    MAX_STORED_REJECTIONS,
    MAX_STORED_TEXT_LENGTH,
    StatusUpdate,
    derive_status,
    plan_write,
    record_status,
)
from tests.events import load_event
from tests.unit.fakes import InMemoryStatusStore

NOW = datetime(2024, 3, 2, 10, 0, 0, tzinfo=UTC)


def update(**fields: Any) -> StatusUpdate:
    return StatusUpdate.model_validate({"trackingId": "trk-1", **fields})


def test_ranks_are_the_contract_table() -> None:
    assert {status.value: rank for status, rank in STATUS_RANKS.items()} == {
        "RECEIVED": 10,
        "ACCEPTED": 20,
        "BUNDLED": 30,
        "ARCHIVED": 40,
        "PARKED": 50,
        "FAILED": 50,
        "DELIVERED": 90,
        "REJECTED": 90,
        "DUPLICATE": 90,
    }


@pytest.mark.parametrize(
    ("stored", "incoming", "expected"),
    [
        (None, Status.DELIVERED, True),
        (Status.RECEIVED, Status.ACCEPTED, True),
        (Status.ACCEPTED, Status.DELIVERED, True),
        (Status.PARKED, Status.DELIVERED, True),
        (Status.DELIVERED, Status.ACCEPTED, False),
        (Status.ARCHIVED, Status.BUNDLED, False),
        (Status.ACCEPTED, Status.ACCEPTED, False),
        (Status.PARKED, Status.FAILED, False),
        (Status.DELIVERED, Status.REJECTED, False),
    ],
)
def test_only_a_strictly_higher_rank_supersedes(
    stored: Status | None, incoming: Status, expected: bool
) -> None:
    assert supersedes(incoming, stored) is expected


def test_every_status_has_a_rank() -> None:
    assert all(rank_of(status) > 0 for status in Status)


@pytest.mark.parametrize(
    ("counts", "status", "reason_part"),
    [
        ({"received": 0, "valid": 0, "rejected": 0}, Status.REJECTED, "no events"),
        ({"received": 3, "valid": 0, "rejected": 3}, Status.REJECTED, "none of the 3 events"),
        ({"received": 1, "valid": 0, "rejected": 1}, Status.REJECTED, "the only event"),
        ({"received": 4, "valid": 2, "fresh": 0, "duplicates": 2}, Status.DUPLICATE, "all 2"),
        ({"received": 4, "valid": 2, "fresh": 1, "duplicates": 1}, Status.ACCEPTED, None),
    ],
)
def test_status_is_derived_from_counts(
    counts: dict[str, int], status: Status, reason_part: str | None
) -> None:
    derived, reason = derive_status(update(counts=counts))

    assert derived is status
    if reason_part is None:
        assert reason is None
    else:
        assert reason is not None
        assert reason_part in reason


def test_validate_output_without_fresh_counts_is_accepted_when_valid() -> None:
    assert derive_status(update(**load_event("validated_envelope.json")))[0] is Status.ACCEPTED


def test_missing_counts_are_inferred_from_the_lists() -> None:
    assert derive_status(update(events=[], duplicates=["e-1"]))[0] is Status.DUPLICATE
    assert derive_status(update(rejected=[{"index": 0}]))[0] is Status.REJECTED
    assert derive_status(update())[0] is Status.REJECTED
    assert derive_status(update(events=[{}]))[0] is Status.ACCEPTED


def test_an_explicit_status_wins_over_the_counts() -> None:
    status, _ = derive_status(update(status="DELIVERED", counts={"received": 0}))

    assert status is Status.DELIVERED


def test_an_explicit_status_takes_its_reason_from_a_catch_result() -> None:
    parked = update(**load_event("status_update_parked.json"))

    status, reason = derive_status(parked)

    assert status is Status.PARKED
    assert reason == "CircuitOpenError: downstream circuit is open until 2024-03-02T10:45:00Z"


def test_the_workflow_failure_path_gives_error_name_and_lambda_cause() -> None:
    lambda_cause = json.dumps(
        {
            "errorMessage": "malformed IngestEnvelope: events: is required",
            "errorType": "InvalidEnvelopeError",
            "stackTrace": ["  File handler.py, line 1\n"] * 50,
        }
    )

    status, reason = derive_status(
        update(status="FAILED", error="InvalidEnvelopeError", cause=lambda_cause)
    )

    assert status is Status.FAILED
    assert reason == "InvalidEnvelopeError: malformed IngestEnvelope: events: is required"


def test_a_plain_cause_is_kept_as_it_is() -> None:
    _, reason = derive_status(update(status="FAILED", error="States.Timeout", cause="took 300 s"))

    assert reason == "States.Timeout: took 300 s"


def test_a_long_reason_is_stored_truncated() -> None:
    write = plan_write(update(status="FAILED", error="E", cause="c" * 5000), NOW)

    assert write.reason is not None
    assert len(write.reason) == MAX_STORED_REASON_LENGTH


def test_an_unknown_status_is_not_accepted() -> None:
    with pytest.raises(ValueError, match="status"):
        update(status="SHIPPED")


def test_counts_are_copied_not_accumulated() -> None:
    counts = {"received": 6, "valid": 4, "rejected": 2, "fresh": 4, "duplicates": 0}

    write = plan_write(update(counts=counts), NOW)

    assert write.counts == counts
    assert (write.status, write.rank, write.at) == (Status.ACCEPTED, 20, "2024-03-02T10:00:00Z")


def test_stored_lists_are_capped_and_their_totals_kept() -> None:
    many_errors = [{"field": f"entities.{i}", "reason": "r" * 1000} for i in range(40)]
    rejected = [{"index": i, "eventId": None, "errors": many_errors} for i in range(250)]
    duplicates = [f"e-{i}" for i in range(300)]

    write = plan_write(update(rejected=rejected, duplicates=duplicates, status="REJECTED"), NOW)

    assert (len(write.rejected), write.rejected_total) == (MAX_STORED_REJECTIONS, 250)
    assert (len(write.duplicates), write.duplicates_total) == (MAX_STORED_DUPLICATES, 300)
    first = write.rejected[0]
    assert len(first["errors"]) == MAX_STORED_ERRORS_PER_REJECTION
    assert first["errorCount"] == 40
    assert len(first["errors"][0]["reason"]) == MAX_STORED_TEXT_LENGTH


def test_rejections_of_odd_shapes_are_stored_without_failing() -> None:
    write = plan_write(update(rejected=[{"eventId": 7, "errors": ["x", {"field": 1}]}]), NOW)

    assert write.rejected == [{"eventId": None, "errors": [{"field": "1", "reason": ""}]}]


def test_a_lower_rank_after_a_higher_one_leaves_the_record_alone() -> None:
    store = InMemoryStatusStore()
    record_status(update(status="DELIVERED"), store, NOW)

    outcome = record_status(update(status="ACCEPTED"), store, NOW)

    assert not outcome.applied
    assert outcome.record["status"] == "DELIVERED"
    assert outcome.requested is Status.ACCEPTED


def test_public_record_puts_the_contract_keys_first_and_hides_the_rank() -> None:
    item = {"history": [], "statusRank": 90, "trackingId": "t", "status": "DELIVERED", "x": 1}

    assert list(public_record(item)) == ["trackingId", "status", "history", "x"]
