"""SQS dead-letter redrive on the local endpoint, through boto3 as the AWS CLI calls it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.runtime import LocalStack

pytestmark = pytest.mark.local

_DEADLINE_SECONDS = 60.0


def _wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + _DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _queue_pair(stack: LocalStack) -> tuple[str, str, str, str]:
    """A source queue redriving to its own DLQ after one receive: (url, arn, dlq url, dlq arn)."""
    sqs = stack.client("sqs")
    name = f"move-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
            "VisibilityTimeout": "0",
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn, dlq_url, dlq_arn


def _dead_letters(stack: LocalStack, url: str, dlq_url: str, bodies: list[str]) -> None:
    """Send ``bodies`` and fail each once, so the redrive policy moves them to the DLQ."""
    sqs = stack.client("sqs")
    for body in bodies:
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={"origin": {"DataType": "String", "StringValue": body}},
        )
    _wait_for(
        lambda: (
            not sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages")
            and _count(stack, dlq_url) == len(bodies)
        ),
        "the messages to reach the DLQ",
    )


def _count(stack: LocalStack, url: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_move_task_returns_every_message_to_its_source_with_its_attributes(
    local_stack: LocalStack,
) -> None:
    sqs = local_stack.client("sqs")
    url, arn, dlq_url, dlq_arn = _queue_pair(local_stack)
    _dead_letters(local_stack, url, dlq_url, ["a", "b", "c"])

    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]

    def finished() -> dict[str, Any] | None:
        task: dict[str, Any] = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
        return task if task["Status"] == "COMPLETED" else None

    task = _wait_for(finished, "the task to complete")
    assert handle
    assert task["SourceArn"] == dlq_arn
    assert task["DestinationArn"] == arn  # the default: the DLQ's source queue
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    assert task["ApproximateNumberOfMessagesToMove"] == 3
    assert "TaskHandle" not in task  # only a running task has one
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "30"})
    moved = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert sorted(m["Body"] for m in moved) == ["a", "b", "c"]
    assert {m["MessageAttributes"]["origin"]["StringValue"] for m in moved} == {"a", "b", "c"}
    assert _count(local_stack, dlq_url) == 0


def test_the_source_must_be_a_dead_letter_queue(local_stack: LocalStack) -> None:
    sqs = local_stack.client("sqs")
    _, arn, _, _ = _queue_pair(local_stack)
    with pytest.raises(ClientError) as refused:
        sqs.start_message_move_task(SourceArn=arn)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "Dead Letter Queue" in refused.value.response["Error"]["Message"]


def test_a_missing_queue_and_an_out_of_range_rate_are_refused(local_stack: LocalStack) -> None:
    sqs = local_stack.client("sqs")
    _, _, _, dlq_arn = _queue_pair(local_stack)
    with pytest.raises(ClientError) as missing:
        sqs.start_message_move_task(SourceArn=dlq_arn + "-nowhere")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as too_fast:
        sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=501)
    assert too_fast.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_one_running_task_per_source_and_a_cancel_stops_it(local_stack: LocalStack) -> None:
    sqs = local_stack.client("sqs")
    url, _, dlq_url, dlq_arn = _queue_pair(local_stack)
    _dead_letters(local_stack, url, dlq_url, [f"m-{n}" for n in range(6)])

    # One message a second: the task is still running when the next calls arrive.
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)[
        "TaskHandle"
    ]
    with pytest.raises(ClientError) as second:
        sqs.start_message_move_task(SourceArn=dlq_arn)
    assert second.value.response["Error"]["Code"].endswith("UnsupportedOperation")
    running = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
    assert [(t["Status"], t["TaskHandle"]) for t in running] == [("RUNNING", handle)]
    assert running[0]["MaxNumberOfMessagesPerSecond"] == 1

    moved_at_cancel = sqs.cancel_message_move_task(TaskHandle=handle)[
        "ApproximateNumberOfMessagesMoved"
    ]

    def cancelled() -> dict[str, Any] | None:
        task: dict[str, Any] = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
        return task if task["Status"] == "CANCELLED" else None

    task = _wait_for(cancelled, "the task to be cancelled")
    assert moved_at_cancel <= task["ApproximateNumberOfMessagesMoved"] < 6
    assert _count(local_stack, dlq_url) == 6 - task["ApproximateNumberOfMessagesMoved"]
    with pytest.raises(ClientError) as again:
        sqs.cancel_message_move_task(TaskHandle=handle)
    assert again.value.response["Error"]["Code"].endswith("UnsupportedOperation")
    # A finished task no longer blocks a new one.
    sqs.start_message_move_task(SourceArn=dlq_arn)


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_starts_and_lists_a_move_task(local_stack: LocalStack) -> None:
    url, _, dlq_url, dlq_arn = _queue_pair(local_stack)
    _dead_letters(local_stack, url, dlq_url, ["cli"])
    environment = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": local_stack.app.config.region,
        "PATH": "/usr/bin:/bin:" + str(shutil.which("aws")).rsplit("/", 1)[0],
        "HOME": "/tmp",
    }

    def aws(*args: str) -> Any:
        done = subprocess.run(
            ["aws", "--endpoint-url", local_stack.endpoint_url, "--output", "json", *args],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
            timeout=60,
        )
        return json.loads(done.stdout)

    assert aws("sqs", "start-message-move-task", "--source-arn", dlq_arn)["TaskHandle"]
    _wait_for(
        lambda: (
            aws("sqs", "list-message-move-tasks", "--source-arn", dlq_arn)["Results"][0]["Status"]
            == "COMPLETED"
        ),
        "the CLI's task to complete",
    )
