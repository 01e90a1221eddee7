"""An event rejected in a batch whose other events were delivered, re-sent fixed, is delivered.

The ingest steps in a row (validate, dedupe, update_status) over a Pipes batch: the rejected
event was never claimed, so the fixed re-send (here the kept message resubmitted with the fix)
is fresh, and only the event that was delivered the first time is a duplicate.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.events import load_example
from tests.functional.conftest import QUARANTINE_BUCKET, FakeLambdaContext, HandlerLoader


def event(uuid: str, created: str = "2024-01-15T10:30:00Z") -> dict[str, Any]:
    sample: dict[str, Any] = copy.deepcopy(load_example("event.json"))
    sample["eventHeader"]["uuid"] = uuid
    sample["eventHeader"]["createdDate"] = created
    sample["eventHeader"]["savedDate"] = "2024-01-15T10:30:05Z"
    return sample


@pytest.mark.usefixtures("dynamodb")
def test_a_rejected_event_re_sent_fixed_is_delivered_and_only_its_neighbour_is_a_duplicate(
    load_handler: HandlerLoader, quarantine_bucket: Any, lambda_context: FakeLambdaContext
) -> None:
    good = event("11111111-1111-4111-8111-111111111111")
    poison = event("22222222-2222-4222-8222-222222222222", created="0001-01-01T00:00:00+01:00")
    validate, dedupe = load_handler("validate"), load_handler("dedupe")
    update_status = load_handler("update_status")

    first = validate.lambda_handler(
        [{"messageId": "m-1", "body": json.dumps([good, poison])}], lambda_context
    )
    first_fresh = dedupe.lambda_handler(first, lambda_context)
    update_status.lambda_handler(
        {**first_fresh, "status": "DELIVERED", "events": []}, lambda_context
    )
    [rejection] = first["rejected"]
    kept = quarantine_bucket.get_object(Bucket=QUARANTINE_BUCKET, Key=rejection["quarantineKey"])
    fixed_body = kept["Body"].read().replace(b"0001-01-01T00:00:00+01:00", b"2024-01-15T10:30:00Z")

    again = validate.lambda_handler(
        [{"messageId": "m-2", "body": fixed_body.decode()}], lambda_context
    )
    again_fresh = dedupe.lambda_handler(again, lambda_context)

    assert [e["eventHeader"]["uuid"] for e in first_fresh["events"]] == [
        good["eventHeader"]["uuid"]
    ]
    assert [e["eventHeader"]["uuid"] for e in again_fresh["events"]] == [
        poison["eventHeader"]["uuid"]
    ]
    assert again_fresh["duplicates"] == [good["eventHeader"]["uuid"]]
