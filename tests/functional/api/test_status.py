"""GET /events/{trackingId}: the status record, readable right after the 202."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.support import (
    an_event,
    get,
)
from tests.functional.conftest import (
    STATUS_TABLE,
    http_event,
)


def test_the_status_is_readable_right_after_the_202(call: Any) -> None:
    accepted = call(http_event(body=an_event()))

    answer = call(get(f"/events/{accepted.body['trackingId']}"))

    assert answer.status == 200
    record = answer.body
    assert record["trackingId"] == accepted.body["trackingId"]
    assert (record["status"], record["source"], record["counts"]) == (
        "RECEIVED",
        "api",
        {"received": 1},
    )
    assert [step["status"] for step in record["history"]] == ["RECEIVED"]
    assert {"rejected", "duplicates", "updatedAt", "createdAt"} <= set(record)
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_status_shows_what_the_workflow_recorded_since(call: Any, dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=STATUS_TABLE,
        Item={
            "trackingId": {"S": "sqs-7e18f737311b2dc3"},
            "status": {"S": "DELIVERED"},
            "statusRank": {"N": "90"},
            "counts": {"M": {"received": {"N": "3"}, "valid": {"N": "2"}}},
            "rejected": {"L": [{"M": {"index": {"N": "2"}, "eventId": {"NULL": True}}}]},
            "duplicates": {"L": []},
            "archiveKey": {"S": "bundles/ab/ab12.ndjson.gz"},
            "updatedAt": {"S": "2024-03-02T09:20:00Z"},
            "history": {"L": [{"M": {"status": {"S": "DELIVERED"}, "at": {"S": "x"}}}]},
        },
    )

    answer = call(get("/events/sqs-7e18f737311b2dc3"))

    assert answer.status == 200
    assert answer.body["archiveKey"] == "bundles/ab/ab12.ndjson.gz"
    assert answer.body["counts"] == {"received": 3, "valid": 2}
    assert answer.body["rejected"] == [{"index": 2, "eventId": None}]
    assert "statusRank" not in answer.body


def test_an_unknown_tracking_id_is_a_404(call: Any) -> None:
    answer = call(get("/events/trk-0123456789abcdef0123456789abcdef"))

    assert answer.status == 404
    assert answer.body == {"message": "no such tracking id", "errors": []}


@pytest.mark.parametrize(
    "tracking_id",
    ["bad$id", "-dash-first", "a" * 257, "trk%20x", "trk;1"],
    ids=["dollar", "dash-first", "too-long", "percent", "semicolon"],
)
def test_a_malformed_tracking_id_is_a_400(call: Any, tracking_id: str) -> None:
    answer = call(get(f"/events/{tracking_id}"))

    assert answer.status == 400
    assert answer.body["message"] == "malformed tracking id"
    assert [error["field"] for error in answer.body["errors"]] == ["path.trackingId"]
    assert "letters, digits" in answer.body["errors"][0]["reason"]
