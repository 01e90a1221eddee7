"""The three inputs a hostile producer found, each beside a valid neighbour: the bad one is
rejected with a reason naming its field, the neighbour goes on, and nothing raises."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from functions._shared.models import IngestEnvelope
from functions.api.body import read_json_body
from functions.api.core import require_valid
from functions.api.errors import ApiError
from functions.validate.core import validate_envelope
from functions.validate.sources import PipeBatch, read_pipe_batch
from tests.events import load_example

BEFORE_YEAR_ONE_IN_UTC = "0001-01-01T00:00:00+01:00"


def an_event() -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load_example("event.json"))
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    return event


def test_a_date_before_year_one_in_utc_is_rejected_and_its_neighbour_kept() -> None:
    bad, good = an_event(), an_event()
    bad["eventHeader"]["createdDate"] = BEFORE_YEAR_ONE_IN_UTC
    envelope = IngestEnvelope.model_validate({"trackingId": "trk-1", "events": [bad, good]})

    payload = validate_envelope(envelope).to_payload()

    assert [event["eventHeader"]["uuid"] for event in payload["events"]] == [
        good["eventHeader"]["uuid"]
    ]
    [rejection] = payload["rejected"]
    assert rejection["errors"] == [
        {
            "field": "eventHeader.createdDate",
            "reason": "is out of range: in UTC it falls outside the years 0001 to 9999",
        }
    ]


def test_the_api_answers_400_for_a_date_before_year_one_in_utc() -> None:
    bad = an_event()
    bad["eventHeader"]["savedDate"] = BEFORE_YEAR_ONE_IN_UTC

    with pytest.raises(ApiError) as refused:
        require_valid([bad])

    assert refused.value.status == 400
    assert [error["field"] for error in refused.value.errors] == ["eventHeader.savedDate"]


def test_the_api_answers_400_for_1e400() -> None:
    body = json.dumps(an_event()).replace('"mileage": 0', '"mileage": 1e400')

    with pytest.raises(ApiError) as refused:
        read_json_body({"Content-Type": "application/json"}, body)

    assert refused.value.status == 400
    assert refused.value.errors == [
        {"field": "$", "reason": "is not valid JSON: 1e400 is not a finite number"}
    ]


def test_1e400_in_a_queue_message_costs_only_that_message() -> None:
    good = an_event()
    bad_body = json.dumps(an_event()).replace('"mileage": 0', '"mileage": 1e400')
    records = [
        {"messageId": "m-bad", "body": bad_body},
        {"messageId": "m-good", "body": json.dumps(good)},
    ]

    envelope, _ = read_pipe_batch(PipeBatch.model_validate(records))
    payload = envelope.to_payload()

    assert [event["eventHeader"]["uuid"] for event in payload["events"]] == [
        good["eventHeader"]["uuid"]
    ]
    [rejection] = payload["rejected"]
    assert rejection["messageId"] == "m-bad"
    assert rejection["errors"][0]["reason"] == (
        "the message body is not valid JSON: 1e400 is not a finite number"
    )
    assert payload["counts"] == {"received": 2, "valid": 1, "rejected": 1}


def test_infinity_reaching_validate_another_way_is_rejected_naming_the_field() -> None:
    # An execution started directly: the Lambda runtime's json.loads reads 1e400 as inf.
    bad = an_event()
    bad["entities"][0]["mileage"] = float("inf")
    envelope = IngestEnvelope.model_validate({"trackingId": "trk-1", "events": [bad, an_event()]})

    payload = validate_envelope(envelope).to_payload()

    assert len(payload["events"]) == 1
    [rejection] = payload["rejected"]
    assert rejection["errors"][0]["field"] == "entities.0.mileage"
    json.dumps(payload, allow_nan=False)  # what goes on is JSON
