"""The operator's quarantine library against S3 and SQS in moto: list, show, resubmit once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions._shared.quarantine import QuarantineBucket, QuarantineSource, RejectedInput
from functions.operations.quarantine import (
    AlreadyResubmittedError,
    Doors,
    QuarantineError,
    list_rejected,
    resubmit,
    show_rejected,
)
from tests.functional.conftest import QUARANTINE_BUCKET, REGION

LANDING = "stepflow-test-landing"
AT = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)


@pytest.fixture
def aws(aws_environment: None) -> Iterator[tuple[Any, Any, Doors]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        for bucket in (QUARANTINE_BUCKET, LANDING):
            s3.create_bucket(Bucket=bucket)
        ingest = sqs.create_queue(QueueName="stepflow-test-ingest")["QueueUrl"]
        sqs.create_queue(QueueName="stepflow-test-landing-notifications")
        yield s3, sqs, Doors(ingest_queue_url=ingest, landing_bucket=LANDING)


def keep(s3: Any, item: RejectedInput) -> str:
    return QuarantineBucket(QUARANTINE_BUCKET, s3).keep(item, AT)


def received(sqs: Any, queue_name: str) -> list[str]:
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [message["Body"] for message in messages]


def test_a_rejected_message_is_listed_shown_and_resubmitted_once_to_its_own_queue(
    aws: tuple[Any, Any, Doors],
) -> None:
    s3, sqs, doors = aws
    origin = f"arn:aws:sqs:{REGION}:123456789012:stepflow-test-landing-notifications"
    body = '{"Records": "not a list", "note": "café"}'
    key = keep(
        s3,
        RejectedInput(
            QuarantineSource.QUEUE,
            "m-1",
            body.encode(),
            "events.0: must be an S3 event notification",
            "sqs-1",
            message_id="m-1",
            origin=origin,
        ),
    )

    [item] = list_rejected(s3, QUARANTINE_BUCKET)
    assert (item.key, item.reason, item.origin, item.resubmitted) == (
        key,
        "events.0: must be an S3 event notification",
        origin,
        None,
    )
    assert show_rejected(s3, QUARANTINE_BUCKET, key)[1] == body.encode()

    done = resubmit(s3, sqs, QUARANTINE_BUCKET, key, doors)

    assert done.to == origin
    assert received(sqs, "stepflow-test-landing-notifications") == [body]
    with pytest.raises(AlreadyResubmittedError, match="already resubmitted"):
        resubmit(s3, sqs, QUARANTINE_BUCKET, key, doors)
    assert list_rejected(s3, QUARANTINE_BUCKET)[0].resubmitted is not None
    assert received(sqs, "stepflow-test-ingest") == []


def test_an_api_event_goes_back_through_the_ingest_queue_corrected_if_given(
    aws: tuple[Any, Any, Doors],
) -> None:
    s3, sqs, doors = aws
    key = keep(s3, RejectedInput(QuarantineSource.API, "trk-1-0", b'{"x": 1}', "bad", "trk-1"))

    resubmit(s3, sqs, QUARANTINE_BUCKET, key, doors, body=b'{"x": 2}')

    assert received(sqs, "stepflow-test-ingest") == ['{"x": 2}']
    assert [item.source for item in list_rejected(s3, QUARANTINE_BUCKET, source="api")] == ["api"]
    assert list_rejected(s3, QUARANTINE_BUCKET, source="landing") == []


def test_a_landed_object_with_lines_left_out_resubmits_only_those_lines_under_a_new_key(
    aws: tuple[Any, Any, Doors],
) -> None:
    s3, sqs, doors = aws
    body = b'{"a":1}\nnot json\n{"b":2}\n[3]\n'
    item = RejectedInput(
        QuarantineSource.LANDING,
        f"s3://{LANDING}/in/mixed.ndjson#e1",
        body,
        "lines.2: not JSON; lines.4: not an object",
        "sqs-9",
        origin=f"s3://{LANDING}/in/mixed.ndjson",
        left_out_lines=(2, 4),
        left_out_total=2,
    )
    key = keep(s3, item)

    done = resubmit(s3, sqs, QUARANTINE_BUCKET, key, doors)

    new_key = done.reference.removeprefix(f"s3://{LANDING}/")
    assert new_key.startswith("resubmitted/")
    assert new_key.endswith("/in/mixed.ndjson")
    assert s3.get_object(Bucket=LANDING, Key=new_key)["Body"].read() == b"not json\n[3]\n"


def test_lines_left_out_beyond_those_listed_need_a_corrected_body(
    aws: tuple[Any, Any, Doors],
) -> None:
    s3, sqs, doors = aws
    item = RejectedInput(
        QuarantineSource.LANDING,
        "s3://l/big#e",
        b"x\n" * 100,
        "many bad lines",
        "sqs-2",
        origin=f"s3://{LANDING}/big.ndjson",
        left_out_lines=(1, 2),
        left_out_total=80,
    )
    key = keep(s3, item)

    with pytest.raises(QuarantineError, match="80 lines were left out"):
        resubmit(s3, sqs, QUARANTINE_BUCKET, key, doors)
    # Refused before anything was marked: a corrected body still goes through.
    resubmit(s3, sqs, QUARANTINE_BUCKET, key, doors, body=b'{"fixed":1}\n')


def test_a_failed_send_leaves_the_item_resubmittable(aws: tuple[Any, Any, Doors]) -> None:
    s3, sqs, doors = aws
    key = keep(s3, RejectedInput(QuarantineSource.API, "trk-2-0", b"{}", "bad", "trk-2"))
    missing_queue = Doors(f"{doors.ingest_queue_url}-gone", doors.landing_bucket)

    with pytest.raises(Exception, match="NonExistentQueue"):
        resubmit(s3, sqs, QUARANTINE_BUCKET, key, missing_queue)

    assert list_rejected(s3, QUARANTINE_BUCKET)[0].resubmitted is None
    resubmit(s3, sqs, QUARANTINE_BUCKET, key, doors)
    assert received(sqs, "stepflow-test-ingest") == ["{}"]


def test_only_quarantine_keys_are_shown(aws: tuple[Any, Any, Doors]) -> None:
    s3, _, _ = aws
    with pytest.raises(QuarantineError, match="not a quarantine key"):
        show_rejected(s3, QUARANTINE_BUCKET, "resubmitted/quarantine/x")
    with pytest.raises(QuarantineError, match="nothing is kept"):
        show_rejected(s3, QUARANTINE_BUCKET, "quarantine/api/2024/01/01/none")
