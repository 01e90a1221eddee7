"""The API reads any request body into events or a 4xx naming the field; never a 5xx."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.api.body import read_json_body
from functions.api.core import bulk_events, require_valid, single_event
from functions.api.errors import ApiError
from tests.property.conftest import count_example
from tests.property.strategies import hostile_events, is_plain_json, json_values, valid_events

_HEADERS = {"content-type": "application/json"}


def _judge(body: str, is_base64_encoded: bool) -> Any:
    """What the API does with a POST body before it starts anything: the events, or ApiError."""
    document = read_json_body(_HEADERS, body, is_base64_encoded)
    # No NaN or Infinity gets past the reader (lone surrogates are the events' rules' to refuse).
    json.dumps(document, allow_nan=False)
    events = bulk_events(document, 100) if isinstance(document, list) else single_event(document)
    require_valid(events)
    return events


def _assert_total(body: str, is_base64_encoded: bool = False) -> None:
    refusal: ApiError | None = None
    try:
        events = _judge(body, is_base64_encoded)
    except ApiError as error:
        refusal = error
    if refusal is None:
        assert all(is_plain_json(event) for event in events)
        return
    assert 400 <= refusal.status < 500
    assert refusal.errors
    assert all(error["field"] and error["reason"] for error in refusal.errors)
    assert is_plain_json(refusal.body())


@given(st.binary(max_size=2048))
def test_any_bytes_get_an_answer(data: bytes) -> None:
    count_example("API body: arbitrary bytes (base64)")
    _assert_total(base64.b64encode(data).decode("ascii"), is_base64_encoded=True)


@given(st.text(max_size=2048))
def test_any_text_gets_an_answer(text: str) -> None:
    count_example("API body: arbitrary text")
    _assert_total(text)


@given(st.one_of(hostile_events(), valid_events, st.lists(hostile_events(), max_size=4)))
def test_any_json_document_gets_an_answer(document: Any) -> None:
    count_example("API body: JSON documents of hostile events")
    # Python writes NaN, Infinity and lone surrogates; the reader must refuse them, not crash.
    _assert_total(json.dumps(document))


@given(json_values, st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "1" + "0" * 400 + ".0"]))
def test_non_finite_numbers_are_refused_wherever_they_are(value: Any, number: str) -> None:
    count_example("API body: non-finite numbers")
    body = json.dumps({"value": value, "n": 0}).replace('"n": 0', f'"n": {number}')
    with pytest.raises(ApiError) as refused:
        read_json_body(_HEADERS, body)
    assert refused.value.status == 400
