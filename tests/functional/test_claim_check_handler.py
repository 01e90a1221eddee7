"""claim_check and validate as Lambda runs them, against moto S3: a batch too big to start a
workflow goes into staging and comes back out of it, judged as any other batch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from functions._shared.batch_pointer import BatchPointer
from functions._shared.errors import InvalidEnvelopeError, TransientDependencyError
from functions.validate.adapters import S3BatchReader
from tests.functional.conftest import (
    INGEST_QUEUE_URL,
    REGION,
    STAGING_BUCKET,
    FakeLambdaContext,
    HandlerLoader,
)
from tests.unit.test_validate_sources import VALID_EVENTS, record


@pytest.fixture
def s3(aws_environment: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=STAGING_BUCKET)
        # validate sends back to the queue what its output has no room for.
        boto3.client("sqs", region_name=REGION).create_queue(QueueName=INGEST_QUEUE_NAME)
        yield client


INGEST_QUEUE_NAME = INGEST_QUEUE_URL.rsplit("/", 1)[1]


def big_batch() -> list[dict[str, Any]]:
    padded = [dict(event, notes="n" * 100_000) for event in VALID_EVENTS[:3]]
    return [record(f"m{index}", event) for index, event in enumerate(padded)]


def test_a_big_batch_is_stored_and_validate_judges_it_from_staging(
    s3: Any, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    records = big_batch()
    answer = load_handler("claim_check").lambda_handler(records, lambda_context)

    [item] = answer
    pointer = item["batchPointer"]
    assert pointer["bucket"] == STAGING_BUCKET
    assert pointer["records"] == 3
    stored = s3.get_object(Bucket=STAGING_BUCKET, Key=pointer["key"])
    assert stored["ServerSideEncryption"] == "AES256"
    assert json.loads(stored["Body"].read()) == records
    # The execution input is JSON: what Step Functions hands validate is the same answer.
    validated = load_handler("validate").lambda_handler(
        json.loads(json.dumps(answer)), lambda_context
    )
    inline = load_handler("validate").lambda_handler(records, lambda_context)
    assert validated == inline
    # 300 KB of events: the third message is over validate's budget and goes back to the queue.
    assert validated["counts"] == {"received": 2, "valid": 2, "rejected": 0, "requeued": 1}


def test_a_small_batch_passes_through_untouched(
    s3: Any, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    records = [record("m0", VALID_EVENTS[0])]
    assert load_handler("claim_check").lambda_handler(records, lambda_context) == records
    assert "Contents" not in s3.list_objects_v2(Bucket=STAGING_BUCKET)


def test_claim_check_refuses_anything_but_a_batch(
    s3: Any, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    with pytest.raises(InvalidEnvelopeError):
        load_handler("claim_check").lambda_handler({"messageId": "m0"}, lambda_context)


def _pointer_answer(
    s3: Any, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = load_handler("claim_check").lambda_handler(
        big_batch(), lambda_context
    )
    return answer


def test_a_batch_gone_from_staging_is_an_invalid_envelope(
    s3: Any, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    answer = _pointer_answer(s3, load_handler, lambda_context)
    s3.delete_object(Bucket=STAGING_BUCKET, Key=answer[0]["batchPointer"]["key"])
    with pytest.raises(InvalidEnvelopeError, match="is gone"):
        load_handler("validate").lambda_handler(answer, lambda_context)


def test_a_pointer_to_another_bucket_is_not_followed(
    s3: Any, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    answer = _pointer_answer(s3, load_handler, lambda_context)
    answer[0]["batchPointer"]["bucket"] = "someone-elses-bucket"
    with pytest.raises(InvalidEnvelopeError, match="read from stepflow-test-staging only"):
        load_handler("validate").lambda_handler(answer, lambda_context)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"records": 2}, "array of 2 records"),
        ({"bytes": 12}, "its pointer says 12"),
    ],
)
def test_a_stored_batch_unlike_its_pointer_is_refused(
    s3: Any,
    load_handler: HandlerLoader,
    lambda_context: FakeLambdaContext,
    change: dict[str, int],
    message: str,
) -> None:
    answer = _pointer_answer(s3, load_handler, lambda_context)
    answer[0]["batchPointer"].update(change)
    with pytest.raises(InvalidEnvelopeError, match=message):
        load_handler("validate").lambda_handler(answer, lambda_context)


class _Unavailable:
    def get_object(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "SlowDown"}}, "GetObject")


def test_a_throttled_read_is_transient(s3: Any) -> None:
    reader = S3BatchReader(STAGING_BUCKET, client=_Unavailable())
    pointer = BatchPointer(bucket=STAGING_BUCKET, key="batches/a.json", records=1, bytes=2)
    with pytest.raises(TransientDependencyError):
        reader.read(pointer)
