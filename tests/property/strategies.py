"""Hypothesis strategies for hostile producer input: JSON values with the edges Python's JSON
reader lets through, date-time texts around the datetime range, and events that are valid except
for one field replaced by such a value."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from tests.events import load_example

VALID_EVENT: dict[str, Any] = load_example("event.json")

numbers = st.one_of(
    st.integers(),
    # Hypothesis cannot print ints over Python's digit limit; unit tests cover those.
    st.integers(min_value=10**300, max_value=10**4200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308, -0.0]),
)
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=16,
)


@st.composite
def date_time_texts(draw: st.DrawFn) -> str:
    """ISO-8601-looking date-times, many at the very ends of the datetime range."""
    moment = draw(
        st.one_of(
            st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 2)),
            st.datetimes(min_value=datetime(9999, 12, 30), max_value=datetime(9999, 12, 31)),
            st.datetimes(),
        )
    )
    minutes = draw(st.integers(min_value=-24 * 60 + 1, max_value=24 * 60 - 1))
    sign = "-" if minutes < 0 else "+"
    offset = draw(
        st.sampled_from(["Z", "", f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"])
    )
    return moment.isoformat() + offset


# Where a hostile value goes in an otherwise valid event.
_PATHS: list[tuple[str | int, ...]] = [
    ("eventHeader", "uuid"),
    ("eventHeader", "eventName"),
    ("eventHeader", "eventType"),
    ("eventHeader", "createdDate"),
    ("eventHeader", "savedDate"),
    ("eventHeader",),
    ("entities",),
    ("entities", 0, "entityHeader", "createdAt"),
    ("entities", 0, "entityHeader", "updatedAt"),
    ("entities", 0, "entityHeader", "entityId"),
    ("entities", 0, "mileage"),
    ("entities", 0, "extra"),
    ("extra",),
]


def valid_event(event_uuid: uuid.UUID) -> dict[str, Any]:
    event = copy.deepcopy(VALID_EVENT)
    event["eventHeader"]["uuid"] = str(event_uuid)
    return event


@st.composite
def hostile_events(draw: st.DrawFn) -> Any:
    """A valid event with one field replaced by a hostile value, or any JSON value at all."""
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        return draw(json_values)
    event = valid_event(draw(st.uuids()))
    *parents, leaf = draw(st.sampled_from(_PATHS))
    target: Any = event
    for part in parents:
        target = target[part]
    target[leaf] = draw(st.one_of(json_values, date_time_texts()))
    return event


valid_events = st.uuids().map(valid_event)


def is_plain_json(value: Any) -> bool:
    """Whether ``value`` is JSON a strict reader can read and UTF-8 can carry."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return True
