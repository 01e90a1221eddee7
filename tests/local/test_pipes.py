"""Pipes: SQS batches start executions and are deleted; failures go back to the queue, then DLQ.

Pollers here run against the shared local stack's endpoint with queues and state machines of
their own (named ``patch-test-*``), short visibility timeouts and batching windows of 0-1 s.
Every wait is a bounded loop on an observable condition, never a timing assertion.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from local.moto_patches.sqs_peek import visible_sqs_messages
from local.pipes import MAX_TARGET_INPUT_CHARACTERS, PipePoller, pipe_record
from local.runtime import LOCAL_ACCOUNT, LocalStack

PASS_ONLY = {"StartAt": "Take", "States": {"Take": {"Type": "Pass", "End": True}}}
_ROLE = "arn:aws:iam::123456789012:role/test"


def _until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _queue(
    stack: LocalStack, *, visibility: int = 30, max_receive_count: int = 2
) -> tuple[str, str, str]:
    """A source queue and its DLQ; returns (url, arn, dlq url)."""
    sqs = stack.client("sqs")
    name = f"patch-test-pipe-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = _arn(stack, dlq_url)
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    return url, _arn(stack, url), dlq_url


def _arn(stack: LocalStack, url: str) -> str:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"]
    )["Attributes"]
    return str(attributes["QueueArn"])


def _machine(stack: LocalStack) -> str:
    created = stack.client("stepfunctions").create_state_machine(
        name=f"patch-test-pipe-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(PASS_ONLY),
        roleArn=_ROLE,
    )
    return str(created["stateMachineArn"])


def _poller(
    stack: LocalStack, queue_url: str, queue_arn: str, machine_arn: str, **options: Any
) -> PipePoller:
    settings: dict[str, Any] = {"batch_size": 10, "batching_window_seconds": 0.5}
    settings.update(options)
    return PipePoller(
        "test",
        sqs=stack.client("sqs"),
        sfn=stack.client("stepfunctions"),
        queue_url=queue_url,
        queue_arn=queue_arn,
        state_machine_arn=machine_arn,
        region=stack.app.config.region,
        poll_wait_seconds=0.2,
        **settings,
    )


def _send(stack: LocalStack, queue_url: str, bodies: list[str]) -> None:
    sqs = stack.client("sqs")
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "MessageBody": body}
                for index, body in enumerate(bodies[start : start + 10])
            ],
        )


def _inputs(stack: LocalStack, machine_arn: str) -> list[list[dict[str, Any]]]:
    sfn = stack.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=machine_arn, maxResults=1000)["executions"]
    return [
        json.loads(sfn.describe_execution(executionArn=item["executionArn"])["input"])
        for item in listed
    ]


def _visible(stack: LocalStack, queue_url: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.mark.parametrize("probe", [False, True], ids=["http-polling", "in-process-probe"])
def test_messages_start_executions_in_batches_and_are_deleted(
    local_stack: LocalStack, probe: bool
) -> None:
    url, arn, dlq_url = _queue(local_stack)
    machine = _machine(local_stack)
    bodies = [json.dumps({"n": n}) for n in range(25)]
    _send(local_stack, url, bodies)
    options: dict[str, Any] = {"batch_size": 10}
    if probe:
        name, region = url.rsplit("/", 1)[-1], local_stack.app.config.region
        options["has_messages"] = lambda: visible_sqs_messages(LOCAL_ACCOUNT, region, name) > 0
    poller = _poller(local_stack, url, arn, machine, **options)
    poller.start()
    try:
        _until(lambda: poller.stats()["messages_deleted"] == 25, "25 messages deleted")
    finally:
        poller.stop()
    stats = poller.stats()
    assert stats["failures"] == 0
    inputs = _inputs(local_stack, machine)
    assert len(inputs) == stats["batches_started"] >= 3
    assert all(1 <= len(batch) <= 10 for batch in inputs)
    records = [record for batch in inputs for record in batch]
    assert sorted(r["body"] for r in records) == sorted(bodies)
    record = records[0]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["awsRegion"] == local_stack.app.config.region
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert _visible(local_stack, url) == 0
    assert _visible(local_stack, dlq_url) == 0


def test_a_batch_never_exceeds_the_batch_size(local_stack: LocalStack) -> None:
    url, arn, _ = _queue(local_stack)
    machine = _machine(local_stack)
    _send(local_stack, url, [f"m{n}" for n in range(7)])
    poller = _poller(local_stack, url, arn, machine, batch_size=3, batching_window_seconds=0)
    poller.start()
    try:
        _until(lambda: poller.stats()["messages_deleted"] == 7, "7 messages deleted")
    finally:
        poller.stop()
    sizes = sorted(len(batch) for batch in _inputs(local_stack, machine))
    assert sum(sizes) == 7
    assert max(sizes) <= 3


def test_a_failing_start_leaves_the_messages_to_reach_the_dlq(local_stack: LocalStack) -> None:
    url, arn, dlq_url = _queue(local_stack, visibility=1, max_receive_count=2)
    missing_machine = _machine(local_stack).replace(":stateMachine:", ":stateMachine:gone-")
    bodies = [f"poison-{n}" for n in range(3)]
    _send(local_stack, url, bodies)
    poller = _poller(local_stack, url, arn, missing_machine, batching_window_seconds=0.2)
    poller.start()
    try:
        _until(lambda: _visible(local_stack, dlq_url) == 3, "3 messages in the DLQ")
    finally:
        poller.stop()
    stats = poller.stats()
    assert stats["batches_started"] == 0
    assert stats["messages_deleted"] == 0
    assert stats["failures"] >= 2  # every receive up to maxReceiveCount failed to start
    assert "StateMachineDoesNotExist" in (poller.last_error or "")
    dead = local_stack.client("sqs").receive_message(
        QueueUrl=dlq_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    assert sorted(m["Body"] for m in dead) == bodies
    assert all(int(m["Attributes"]["ApproximateReceiveCount"]) >= 2 for m in dead)


def test_a_batch_over_the_target_input_limit_is_not_started(local_stack: LocalStack) -> None:
    url, arn, _ = _queue(local_stack)
    machine = _machine(local_stack)
    big = "x" * (MAX_TARGET_INPUT_CHARACTERS // 2 + 1)
    _send(local_stack, url, [big, big])
    poller = _poller(local_stack, url, arn, machine, batching_window_seconds=1)
    poller.start()
    try:
        _until(lambda: poller.stats()["oversized_batches"] >= 1, "an oversized batch")
    finally:
        poller.stop()
    stats = poller.stats()
    assert stats["batches_started"] == 0
    assert stats["messages_deleted"] == 0
    assert _inputs(local_stack, machine) == []
    assert _visible(local_stack, url) == 2


def test_a_filtered_pipe_deletes_the_s3_test_event_and_delivers_notifications(
    local_stack: LocalStack,
) -> None:
    # A bucket notifying a queue of our own, as landing notifies landing-notifications: S3 (and
    # moto) sends an s3:TestEvent when the notification is configured, then real notifications.
    url, arn, dlq_url = _queue(local_stack)
    machine = _machine(local_stack)
    s3 = local_stack.client("s3")
    bucket = url.rsplit("/", 1)[-1]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=bucket, Key="in/a.ndjson", Body=b"{}\n")
    [aggregate] = [pipe for pipe in local_stack.app.pipes if pipe.name == "aggregate"]
    assert aggregate.filter_patterns
    poller = _poller(local_stack, url, arn, machine, filter_patterns=aggregate.filter_patterns)
    poller.start()
    try:
        _until(lambda: poller.stats()["messages_deleted"] == 2, "both messages deleted")
    finally:
        poller.stop()
    stats = poller.stats()
    assert stats["filtered"] == 1
    assert stats["batches_started"] == 1
    [[record]] = _inputs(local_stack, machine)
    [notification] = json.loads(record["body"])["Records"]
    assert notification["s3"]["object"]["key"] == "in/a.ndjson"
    assert _visible(local_stack, url) == 0
    assert _visible(local_stack, dlq_url) == 0


def test_a_batch_matching_no_filter_starts_nothing(local_stack: LocalStack) -> None:
    url, arn, _ = _queue(local_stack)
    machine = _machine(local_stack)
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "landing"}
    _send(local_stack, url, [json.dumps(test_event), "plain", json.dumps({"kind": "other"})])
    poller = _poller(
        local_stack,
        url,
        arn,
        machine,
        batching_window_seconds=1,
        filter_patterns=['{"body": {"kind": ["wanted"]}}'],
    )
    poller.start()
    try:
        _until(lambda: poller.stats()["filtered"] == 3, "3 messages filtered")
    finally:
        poller.stop()
    stats = poller.stats()
    assert stats["batches_started"] == 0
    assert stats["failures"] == 0
    assert stats["messages_deleted"] == 3
    assert _inputs(local_stack, machine) == []
    assert _visible(local_stack, url) == 0


def test_stop_ends_the_thread(local_stack: LocalStack) -> None:
    url, arn, _ = _queue(local_stack)
    poller = _poller(local_stack, url, arn, _machine(local_stack))
    poller.start()
    assert poller.running
    poller.stop()
    assert not poller.running


def test_message_attributes_take_the_event_shape() -> None:
    record = pipe_record(
        {
            "MessageId": "m-1",
            "ReceiptHandle": "rh",
            "Body": "{}",
            "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
            "Attributes": {"ApproximateReceiveCount": "1"},
            "MessageAttributes": {
                "kind": {"StringValue": "order", "DataType": "String"},
                "blob": {"BinaryValue": b"\x01\x02", "DataType": "Binary"},
            },
        },
        "arn:aws:sqs:us-east-1:123456789012:q",
        "us-east-1",
    )
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "order",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {
            "binaryValue": "AQI=",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }


def test_invalid_settings_are_refused(local_stack: LocalStack) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        _poller(local_stack, "u", "a", "m", batch_size=0)
    with pytest.raises(ValueError, match="unsupported operator 'suffix'"):
        _poller(local_stack, "u", "a", "m", filter_patterns=['{"body": [{"suffix": "x"}]}'])


def test_the_stack_polls_each_described_pipe(local_stack: LocalStack) -> None:
    stats = local_stack.pipe_stats()
    assert set(stats) == {pipe.name for pipe in local_stack.app.pipes}
    marker = f"pipe-wiring-{uuid.uuid4().hex}"
    local_stack.client("sqs").send_message(
        QueueUrl=local_stack.queue_url("ingest"), MessageBody=json.dumps({"marker": marker})
    )
    machine = local_stack.state_machine_arn("ingest")

    def started() -> bool:
        return any(
            json.loads(record["body"]).get("marker") == marker
            for batch in _inputs(local_stack, machine)
            if isinstance(batch, list)
            for record in batch
            if isinstance(record, dict) and record.get("body", "").startswith("{")
        )

    _until(started, "the ingest pipe to start an execution with the message")
    _until(lambda: _visible(local_stack, local_stack.queue_url("ingest")) == 0, "deletion")


def test_the_stacks_own_s3_test_event_starts_no_aggregate_execution(
    local_stack: LocalStack,
) -> None:
    # Configuring the landing bucket's notification makes S3 send s3:TestEvent to the queue;
    # the aggregate pipe's filter drops it instead of starting an execution that is REJECTED.
    deadline = time.monotonic() + 30
    while local_stack.pipe_stats()["aggregate"]["filtered"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert local_stack.pipe_stats()["aggregate"]["filtered"] >= 1
