"""POST /events and POST /events/bulk: accepted events start one execution; bad input is a 4xx
naming what is wrong and starts nothing; a retried POST with the same Idempotency-Key starts
nothing new.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from tests.events import load_event
from tests.functional.api.support import (
    BAD_REQUESTS,
    VALID_EVENTS,
    an_event,
    event_with,
    status_records,
)
from tests.functional.conftest import (
    INGEST_STATE_MACHINE_ARN,
    http_event,
    started_executions,
)


def test_a_valid_event_starts_one_execution_named_by_its_tracking_id(
    call: Any, stepfunctions: Any
) -> None:
    answer = call(load_event("api_post_event.json"))

    assert answer.status == 202
    tracking_id = answer.body["trackingId"]
    assert re.fullmatch(r"trk-[0-9a-f]{32}", tracking_id)
    assert answer.body == {
        "executionId": f"{INGEST_STATE_MACHINE_ARN.replace('stateMachine', 'execution')}"
        f":{tracking_id}",
        "trackingId": tracking_id,
    }
    assert answer.headers["Location"] == f"/events/{tracking_id}"
    (execution,) = started_executions(stepfunctions)
    assert execution["executionArn"] == answer.body["executionId"]
    assert execution["name"] == tracking_id
    assert execution["input"] == {
        "trackingId": tracking_id,
        "source": "api",
        "events": [json.loads(load_event("api_post_event.json")["body"])],
    }


def test_a_valid_bulk_starts_one_execution_with_every_event(call: Any, stepfunctions: Any) -> None:
    answer = call(load_event("api_post_events_bulk.json"))

    assert answer.status == 202
    (execution,) = started_executions(stepfunctions)
    assert execution["input"]["events"] == VALID_EVENTS
    assert execution["input"]["trackingId"] == answer.body["trackingId"]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_is_a_4xx_naming_what_is_wrong_and_starts_nothing(
    call: Any,
    stepfunctions: Any,
    dynamodb: Any,
    case: tuple[str, dict[str, Any], int, str, list[str]],
) -> None:
    _, event, status, words, fields = case

    answer = call(event)

    assert answer.status == status
    assert words in answer.body["message"]
    assert [error["field"] for error in answer.body["errors"]] == fields
    assert all(error["reason"] for error in answer.body["errors"])
    assert started_executions(stepfunctions) == []
    assert status_records(dynamodb) == []


def test_invalid_base64_is_a_400(call: Any, stepfunctions: Any) -> None:
    event = http_event(raw_body="{not base64}")
    event["isBase64Encoded"] = True

    answer = call(event)

    assert (answer.status, answer.body["errors"][0]["reason"]) == (400, "is not valid base64")
    assert started_executions(stepfunctions) == []


def test_every_wrong_field_of_every_event_is_named_with_its_index(
    call: Any, stepfunctions: Any
) -> None:
    first = event_with("eventHeader.createdDate", "yesterday", 0)
    first["entities"] = "one car"
    third = event_with("entities.0.entityHeader.entityId", "", 2)

    answer = call(
        http_event("api_post_events_bulk.json", body=[first, an_event(1), third, an_event(3)])
    )

    assert answer.status == 400
    assert answer.body["message"] == "2 of 4 events are invalid; nothing was started"
    assert answer.body["errors"] == [
        {
            "index": 0,
            "field": "eventHeader.createdDate",
            "reason": "must be an ISO-8601 date-time such as 2024-01-15T10:30:00Z",
        },
        {"index": 0, "field": "entities", "reason": "must be a JSON array, got string"},
        {"index": 2, "field": "entities.0.entityHeader.entityId", "reason": "must not be empty"},
    ]
    assert started_executions(stepfunctions) == []


def test_a_retry_with_the_same_key_starts_nothing_new_and_answers_the_same_ids(
    call: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    event = http_event(body=an_event(), headers={"Idempotency-Key": "order-42-attempt"})

    first = call(event)
    retry = call(copy.deepcopy(event))

    assert (first.status, retry.status) == (202, 202)
    assert retry.body == first.body
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(started_executions(stepfunctions)) == 1
    assert len(status_records(dynamodb)) == 1


def test_the_same_body_sent_differently_formatted_is_the_same_request(
    call: Any, stepfunctions: Any
) -> None:
    event = an_event()
    compact = http_event(raw_body=json.dumps(event), headers={"Idempotency-Key": "k-1"})
    pretty = http_event(raw_body=json.dumps(event, indent=4), headers={"Idempotency-Key": "k-1"})

    assert call(compact).body == call(pretty).body
    assert len(started_executions(stepfunctions)) == 1


def test_the_same_key_with_another_body_is_a_422_and_starts_nothing(
    call: Any, stepfunctions: Any
) -> None:
    call(http_event(body=an_event(0), headers={"Idempotency-Key": "k-1"}))

    answer = call(http_event(body=an_event(1), headers={"Idempotency-Key": "k-1"}))

    assert answer.status == 422
    assert "already used with a different body" in answer.body["message"]
    assert answer.body["errors"][0]["field"] == "header.Idempotency-Key"
    assert len(started_executions(stepfunctions)) == 1


def test_a_key_is_scoped_to_its_route(call: Any, stepfunctions: Any) -> None:
    single = call(http_event(body=an_event(), headers={"Idempotency-Key": "k-1"}))
    bulk = call(
        http_event(
            "api_post_events_bulk.json", body=[an_event()], headers={"Idempotency-Key": "k-1"}
        )
    )

    assert (single.status, bulk.status) == (202, 202)
    assert single.body["trackingId"] != bulk.body["trackingId"]
    assert len(started_executions(stepfunctions)) == 2


def test_without_a_key_each_post_starts_its_own_execution(call: Any, stepfunctions: Any) -> None:
    first = call(http_event(body=an_event()))
    second = call(http_event(body=an_event()))

    assert first.body["trackingId"] != second.body["trackingId"]
    assert len(started_executions(stepfunctions)) == 2


def test_a_refused_request_stores_no_idempotency_record(call: Any, stepfunctions: Any) -> None:
    bad = call(
        http_event(body=event_with("eventHeader.uuid", ...), headers={"Idempotency-Key": "k"})
    )
    good = call(http_event(body=an_event(), headers={"Idempotency-Key": "k"}))

    assert (bad.status, good.status) == (400, 202)
    assert len(started_executions(stepfunctions)) == 1
