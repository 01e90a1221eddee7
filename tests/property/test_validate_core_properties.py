"""validate's rules are total: any JSON value gets a verdict, never an exception."""

from __future__ import annotations

from random import Random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from functions._shared.validation import UNJUDGED_REASON, validate_batch
from tests.property.conftest import count_example
from tests.property.strategies import hostile_events, is_plain_json, json_values, valid_events


@given(st.lists(st.one_of(hostile_events(), valid_events, json_values), max_size=6))
def test_every_event_is_either_valid_plain_json_or_rejected_with_a_reason(
    batch: list[Any],
) -> None:
    count_example("validate core: JSON event dicts")
    verdict = validate_batch(batch)

    assert len(verdict.valid) + len(verdict.rejected) == len(batch)
    for event in verdict.valid:
        assert is_plain_json(event)
    for rejection in verdict.rejected:
        assert rejection.errors
        for error in rejection.errors:
            assert error.field
            assert error.reason
            assert not error.reason.startswith(UNJUDGED_REASON), error.reason
            assert is_plain_json({"field": error.field, "reason": error.reason})


@given(
    st.lists(valid_events, min_size=1, max_size=4, unique_by=lambda e: e["eventHeader"]["uuid"]),
    st.lists(hostile_events(), max_size=4),
    st.randoms(use_true_random=False),
)
def test_a_hostile_neighbour_never_costs_a_valid_event(
    valid: list[dict[str, Any]], hostile: list[Any], shuffler: Random
) -> None:
    count_example("validate core: valid events beside hostile ones")
    batch = [*valid, *hostile]
    shuffler.shuffle(batch)
    # A hostile event that repeats a valid one's uuid would rightly cost it; uuids are random.
    verdict = validate_batch(batch)

    kept = {event["eventHeader"]["uuid"] for event in verdict.valid}
    assert {event["eventHeader"]["uuid"] for event in valid} <= kept
    assert len(verdict.valid) + len(verdict.rejected) == len(batch)
