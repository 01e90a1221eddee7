"""A batch whose accepted events are over the output budget: a prefix of its messages is kept,
the rest named for the queue, their rejections left to the execution that judges them again."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from functions._shared.batch_pointer import INLINE_EVENTS_BUDGET_BYTES
from functions.validate.overflow import messages_over_budget, serialised_size
from tests.events import load_example
from tests.unit.test_validate_sources import read, record


def padded_event(padding: int = 0) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load_example("event.json"))
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    if padding:
        event["entities"][0]["notes"] = "n" * padding
    return event


def test_messages_are_kept_in_order_while_they_fit() -> None:
    accepted = [("m1", "a" * 40), ("m1", "b" * 40), ("m2", "c" * 40), ("m3", "d")]

    assert messages_over_budget(accepted, budget=100) == ["m2", "m3"]
    assert messages_over_budget(accepted, budget=1_000) == []


def test_the_budget_is_inclusive() -> None:
    one = ("m1", "a" * 10)
    exactly = serialised_size(one[1]) + 2

    assert messages_over_budget([one, ("m2", "b" * 10)], budget=2 * exactly) == []
    assert messages_over_budget([one, ("m2", "b" * 10)], budget=2 * exactly - 1) == ["m2"]


def test_the_first_message_is_kept_however_large() -> None:
    assert messages_over_budget([("m1", "x" * 500), ("m2", "y")], budget=10) == ["m2"]


def test_once_one_message_overflows_the_later_ones_go_too() -> None:
    # m3 would fit on its own; keeping a prefix keeps the batch's order.
    accepted = [("m1", "a" * 50), ("m2", "b" * 50), ("m3", "c")]

    assert messages_over_budget(accepted, budget=60) == ["m2", "m3"]


def test_non_ascii_text_is_measured_at_its_escaped_size() -> None:
    assert serialised_size("é" * 10) == len(json.dumps("é" * 10)) == 62


def test_two_150_kb_messages_and_a_small_one_keep_only_the_first_inline() -> None:
    big, other, small = padded_event(150_000), padded_event(150_000), padded_event()
    junk = {"eventHeader": {"uuid": "junk"}}

    envelope, _ = read([record("m1", big), record("m2", [other, junk]), record("m3", small)])

    assert [event["eventHeader"]["uuid"] for event in envelope["events"]] == [
        big["eventHeader"]["uuid"]
    ]
    assert envelope["requeued"] == ["m2", "m3"]
    # m2's junk is judged again when m2 comes back: not rejected twice.
    assert envelope["rejected"] == []
    assert envelope["counts"] == {"received": 1, "valid": 1, "rejected": 0, "requeued": 2}
    assert len(json.dumps(envelope)) < 262_144


def test_a_batch_within_the_budget_has_no_requeued_key() -> None:
    events = [padded_event(INLINE_EVENTS_BUDGET_BYTES // 4) for _ in range(3)]

    envelope, _ = read([record(f"m{index}", event) for index, event in enumerate(events)])

    assert "requeued" not in envelope
    assert envelope["counts"] == {"received": 3, "valid": 3, "rejected": 0}


def test_a_message_of_only_rejections_is_never_requeued() -> None:
    big, other = padded_event(150_000), padded_event(150_000)

    envelope, _ = read([record("m1", big), record("m2", "not json"), record("m3", other)])

    assert envelope["requeued"] == ["m3"]
    assert [rejection["messageId"] for rejection in envelope["rejected"]] == ["m2"]
    assert envelope["counts"] == {"received": 2, "valid": 1, "rejected": 1, "requeued": 1}
