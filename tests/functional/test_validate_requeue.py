"""validate as Lambda runs it, against moto SQS: messages whose events its output has no room
for go back to the ingest queue unchanged, and a failed send is retried by the workflow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions._shared.errors import TransientDependencyError
from functions.validate.requeue import QueueRequeuer
from tests.functional.conftest import (
    INGEST_QUEUE_URL,
    REGION,
    FakeLambdaContext,
    HandlerLoader,
)
from tests.unit.test_validate_overflow import padded_event
from tests.unit.test_validate_sources import record


@pytest.fixture
def sqs(aws_environment: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("sqs", region_name=REGION)
        url = client.create_queue(QueueName=INGEST_QUEUE_URL.rsplit("/", 1)[1])["QueueUrl"]
        assert url == INGEST_QUEUE_URL
        yield client


def queued_bodies(sqs: Any) -> list[str]:
    bodies: list[str] = []
    while True:
        answer = sqs.receive_message(QueueUrl=INGEST_QUEUE_URL, MaxNumberOfMessages=10)
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        bodies += [message["Body"] for message in messages]


def test_the_messages_over_the_budget_go_back_to_the_queue_unchanged(
    sqs: Any, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    records = [
        record("m1", padded_event(150_000)),
        record("m2", padded_event(150_000)),
        record("m3", padded_event()),
    ]

    result = load_handler("validate").lambda_handler(records, lambda_context)

    assert len(result["events"]) == 1
    assert result["requeued"] == ["m2", "m3"]
    assert result["counts"] == {"received": 1, "valid": 1, "rejected": 0, "requeued": 2}
    assert len(json.dumps(result)) < 262_144
    assert sorted(queued_bodies(sqs)) == sorted([records[1]["body"], records[2]["body"]])


def test_a_batch_within_the_budget_sends_nothing(
    sqs: Any, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    records = [record(f"m{index}", padded_event(1_000)) for index in range(5)]

    result = load_handler("validate").lambda_handler(records, lambda_context)

    assert result["counts"] == {"received": 5, "valid": 5, "rejected": 0}
    assert queued_bodies(sqs) == []


def test_a_failed_send_is_transient_so_the_workflow_retries_validate(
    aws_environment: None, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    records = [record("m1", padded_event(150_000)), record("m2", padded_event(150_000))]

    with mock_aws(), pytest.raises(TransientDependencyError, match="NonExistentQueue"):
        load_handler("validate").lambda_handler(records, lambda_context)


def test_many_bodies_are_sent_in_requests_the_queue_accepts(sqs: Any) -> None:
    bodies = [json.dumps(padded_event(60_000)) for _ in range(4)]
    bodies += [json.dumps(padded_event()) for _ in range(12)]

    QueueRequeuer(INGEST_QUEUE_URL, client=sqs).send(bodies)

    assert sorted(queued_bodies(sqs)) == sorted(bodies)


class _PartlyFailing:
    def send_message_batch(self, **request: Any) -> dict[str, Any]:
        [first, *rest] = request["Entries"]
        return {
            "Successful": [{"Id": first["Id"]}],
            "Failed": [{"Id": entry["Id"], "Code": "InternalError"} for entry in rest],
        }


def test_a_partly_failed_batch_is_transient() -> None:
    requeuer = QueueRequeuer(INGEST_QUEUE_URL, client=_PartlyFailing())

    with pytest.raises(TransientDependencyError, match="1 of 2 messages not sent"):
        requeuer.send(["a", "b"])
