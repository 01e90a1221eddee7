"""Queued intake (the stack's default): POST /events and /events/bulk record RECEIVED and send
the request to the ingest queue, answering 202 once SQS holds it; nothing is started here.
"""

from __future__ import annotations

import dataclasses
import json
from types import ModuleType
from typing import Any

import boto3
import pytest

from functions._shared import names
from functions._shared.dynamodb import from_item
from functions.api.adapters import IngestQueue
from functions.api.core import MAX_QUEUED_MESSAGE_BYTES
from tests.events import load_event
from tests.functional.api.support import VALID_EVENTS, Answer, big_events, status_records
from tests.functional.conftest import (
    INGEST_QUEUE_URL,
    REGION,
    FakeLambdaContext,
    HandlerLoader,
    http_event,
    started_executions,
)


@pytest.fixture
def sqs(stepfunctions: Any) -> Any:
    """The ingest queue, in the same moto session as the tables and state machines."""
    client = boto3.client("sqs", region_name=REGION)
    assert client.create_queue(QueueName=INGEST_QUEUE_URL.rsplit("/", 1)[1])["QueueUrl"] == (
        INGEST_QUEUE_URL
    )
    return client


@pytest.fixture
def queued_api(
    load_handler: HandlerLoader, sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    monkeypatch.setenv(names.INTAKE_ENV, "queued")
    monkeypatch.delenv(names.INGEST_STATE_MACHINE_ENV)  # the queued api is granted no start
    return load_handler("api")


@pytest.fixture
def post(queued_api: ModuleType, lambda_context: FakeLambdaContext) -> Any:
    def invoke(event: dict[str, Any]) -> Answer:
        response = queued_api.lambda_handler(event, lambda_context)
        return Answer(response["statusCode"], json.loads(response["body"]), response["headers"])

    return invoke


def records(dynamodb: Any) -> list[dict[str, Any]]:
    return [from_item(item) for item in status_records(dynamodb)]


def queued_messages(sqs: Any) -> list[dict[str, Any]]:
    answer = sqs.receive_message(QueueUrl=INGEST_QUEUE_URL, MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def test_an_event_is_queued_under_its_tracking_id_and_nothing_is_started(
    post: Any, sqs: Any, stepfunctions: Any, dynamodb: Any
) -> None:
    answer = post(load_event("api_post_event.json"))

    assert answer.status == 202
    tracking_id = answer.body["trackingId"]
    assert answer.body == {"trackingId": tracking_id}
    assert answer.headers["Location"] == f"/events/{tracking_id}"
    assert queued_messages(sqs) == [
        {
            "trackingId": tracking_id,
            "source": "api",
            "events": [json.loads(load_event("api_post_event.json")["body"])],
        }
    ]
    assert started_executions(stepfunctions) == []
    (record,) = records(dynamodb)
    assert (record["trackingId"], record["status"]) == (tracking_id, "RECEIVED")


def test_a_bulk_is_one_message_with_every_event(post: Any, sqs: Any) -> None:
    answer = post(load_event("api_post_events_bulk.json"))

    assert answer.status == 202
    (message,) = queued_messages(sqs)
    assert message["events"] == VALID_EVENTS
    assert message["trackingId"] == answer.body["trackingId"]


def test_a_failed_send_answers_503_and_the_record_says_it_was_not_queued(
    queued_api: ModuleType, post: Any, sqs: Any, dynamodb: Any
) -> None:
    missing = INGEST_QUEUE_URL.replace("ingest", "missing")
    queued_api.configure(dataclasses.replace(queued_api.services, queue=IngestQueue(missing)))

    answer = post(load_event("api_post_event.json"))

    assert answer.status == 503
    assert answer.headers["Retry-After"]
    assert "trackingId" not in answer.body
    (record,) = records(dynamodb)
    assert record["status"] == "FAILED"
    assert "not queued" in record["reason"]
    assert "may retry under a new tracking id" in record["reason"]


def test_a_request_over_the_queued_limit_is_refused_with_413_and_sends_nothing(
    post: Any, sqs: Any, dynamodb: Any
) -> None:
    # Under Step Functions' 262,144 bytes, over what validate takes from the queue.
    events = big_events(2, 110_000)
    body = json.dumps(events)
    assert MAX_QUEUED_MESSAGE_BYTES < len(body) < 262_144

    answer = post(http_event("api_post_events_bulk.json", body=events))

    assert answer.status == 413
    assert f"{MAX_QUEUED_MESSAGE_BYTES:,}" in answer.body["message"]
    assert queued_messages(sqs) == []
    assert status_records(dynamodb) == []
