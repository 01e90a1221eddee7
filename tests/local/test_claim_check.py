"""Batches fit their target: through the whole local stack, a batch too big to start the ingest
workflow goes by pointer (the claim_check enrichment) and every valid message in it is delivered;
a message too big to be an event is rejected alone. Pollers of their own check what the pipe does
with its enrichment's failures and empty answers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from functions._shared.batch_pointer import INLINE_BATCH_LIMIT_BYTES
from functions._shared.pipe_batches import batch_tracking_id
from local.environment import LocalEnvironment
from local.pipes import PipePoller
from local.runtime import LocalStack
from tests.events import load_example
from tests.local.test_hostile_inputs import _rejections_validate_returned

_DEADLINE_SECONDS = 180
PASS_ONLY = {"StartAt": "Take", "States": {"Take": {"Type": "Pass", "End": True}}}


def _until(condition: Callable[[], bool], what: str, seconds: float = _DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def _event(padding: int = 0) -> dict[str, Any]:
    event: dict[str, Any] = load_example("event.json")
    event["eventHeader"]["uuid"] = str(uuid.uuid4())
    if padding:
        event["entities"][0]["notes"] = "n" * padding
    return event


def _send_one_batch(stack: LocalStack, bodies: list[str]) -> list[str]:
    answer = stack.client("sqs").send_message_batch(
        QueueUrl=stack.queue_url("ingest"),
        Entries=[{"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies)],
    )
    assert not answer.get("Failed"), answer
    return [entry["MessageId"] for entry in answer["Successful"]]


def _status(stack: LocalStack, tracking_id: str) -> dict[str, Any] | None:
    item = stack.client("dynamodb").get_item(
        TableName=stack.app.physical_name("status"),
        Key={"trackingId": {"S": tracking_id}},
        ConsistentRead=True,
    )
    found: dict[str, Any] | None = item.get("Item")
    return found


def _final_status(stack: LocalStack, tracking_id: str) -> str:
    _until(
        lambda: (
            (_status(stack, tracking_id) or {}).get("status", {}).get("S")
            in {"DELIVERED", "REJECTED", "FAILED", "PARKED"}
        ),
        f"a final status for {tracking_id}",
    )
    record = _status(stack, tracking_id)
    assert record is not None
    return str(record["status"]["S"])


def _dead_letters(stack: LocalStack) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.dead_letter_queue_url("ingest"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _execution_of(stack: LocalStack, tracking_id: str) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    listed = sfn.list_executions(
        stateMachineArn=stack.state_machine_arn("ingest"), maxResults=1000
    )["executions"]
    for item in listed:
        described: dict[str, Any] = sfn.describe_execution(executionArn=item["executionArn"])
        output = json.loads(described.get("output") or "{}")
        if output.get("trackingId") == tracking_id:
            return described
    raise AssertionError(f"no ingest execution for {tracking_id}")


def _stored_batch_of(stack: LocalStack, message_ids: list[str]) -> dict[str, Any]:
    """The pointer claim_check made for the batch of ``message_ids``, once it is in staging."""
    s3, bucket = stack.client("s3"), stack.app.bucket_name("staging")
    found: list[dict[str, Any]] = []

    def stored() -> bool:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="batches/").get("Contents", [])
        for item in listed:
            records = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            if [record["messageId"] for record in records] == message_ids:
                found.append({"key": item["Key"], "records": records})
                return True
        return False

    _until(stored, "the batch in staging")
    return found[0]


def _finished_execution_for(stack: LocalStack, key: str) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    found: list[dict[str, Any]] = []

    def finished() -> bool:
        listed = sfn.list_executions(
            stateMachineArn=stack.state_machine_arn("ingest"), maxResults=1000
        )["executions"]
        for item in listed:
            described: dict[str, Any] = sfn.describe_execution(executionArn=item["executionArn"])
            if key in described["input"] and described["status"] != "RUNNING":
                found.append(described)
                return True
        return False

    _until(finished, f"the execution started with {key}")
    return found[0]


def test_two_150_kb_messages_and_a_small_one_in_one_batch_are_all_delivered(
    local_env: LocalEnvironment,
) -> None:
    stack = local_env.stack
    local_env.downstream.reset()
    events = [_event(150_000), _event(150_000), _event()]
    bodies = [json.dumps(event) for event in events]
    assert sum(map(len, bodies)) > 262_144  # too big to start the workflow inline

    message_ids = _send_one_batch(stack, bodies)

    # It goes by pointer: the batch is in staging, encrypted, and the execution starts with it.
    stored = _stored_batch_of(stack, message_ids)
    head = stack.client("s3").head_object(
        Bucket=stack.app.bucket_name("staging"), Key=stored["key"]
    )
    assert head["ServerSideEncryption"] == "AES256"
    described = _finished_execution_for(stack, stored["key"])
    [item] = json.loads(described["input"])
    assert item["batchPointer"]["records"] == 3
    assert described["status"] == "SUCCEEDED", described.get("cause")
    tracking_id = batch_tracking_id(message_ids)
    assert _final_status(stack, tracking_id) == "DELIVERED"
    # Both 150 KB events would take validate's output over a state's limit: the first stays,
    # the other two messages go back to the queue and a later execution delivers them.
    record = _status(stack, tracking_id)
    assert record is not None
    assert record["counts"]["M"]["requeued"] == {"N": "2"}
    uuids = [event["eventHeader"]["uuid"] for event in events]
    _until(
        lambda: set(uuids) <= set(local_env.downstream.received().events),
        "every event of the batch delivered",
    )
    delivered = local_env.downstream.received().events
    assert {event_id: delivered[event_id] for event_id in uuids} == dict.fromkeys(uuids, 1)
    assert _dead_letters(stack) == 0


def test_a_message_too_big_to_be_an_event_is_rejected_alone(local_env: LocalEnvironment) -> None:
    stack = local_env.stack
    local_env.downstream.reset()
    huge, small = _event(INLINE_BATCH_LIMIT_BYTES), _event()

    message_ids = _send_one_batch(stack, [json.dumps(huge), json.dumps(small)])
    tracking_id = batch_tracking_id(message_ids)

    assert _final_status(stack, tracking_id) == "DELIVERED"
    delivered = local_env.downstream.received().events
    assert delivered.get(small["eventHeader"]["uuid"]) == 1
    assert huge["eventHeader"]["uuid"] not in delivered
    [rejection] = _rejections_validate_returned(
        stack, _execution_of(stack, tracking_id)["executionArn"]
    )
    assert rejection["messageId"] == message_ids[0]
    [error] = rejection["errors"]
    assert "a message may hold at most 204,800" in error["reason"]
    assert _dead_letters(stack) == 0


def _poller(stack: LocalStack, enrich: Callable[[list[dict[str, Any]]], Any]) -> PipePoller:
    sqs = stack.client("sqs")
    name = f"patch-test-claim-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    machine = stack.client("stepfunctions").create_state_machine(
        name=name, definition=json.dumps(PASS_ONLY), roleArn="arn:aws:iam::123456789012:role/t"
    )["stateMachineArn"]
    return PipePoller(
        "test",
        sqs=sqs,
        sfn=stack.client("stepfunctions"),
        queue_url=url,
        queue_arn=arn,
        state_machine_arn=machine,
        region=stack.app.config.region,
        poll_wait_seconds=0.2,
        enrich=enrich,
    )


def _executions(stack: LocalStack, poller: PipePoller) -> list[Any]:
    sfn = stack.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=poller.state_machine_arn)["executions"]
    return [
        json.loads(sfn.describe_execution(executionArn=item["executionArn"])["input"])
        for item in listed
    ]


def test_a_failed_enrichment_leaves_the_batch_on_the_queue(local_stack: LocalStack) -> None:
    def failing(records: list[dict[str, Any]]) -> Any:
        raise RuntimeError("enrichment down")

    poller = _poller(local_stack, failing)
    local_stack.client("sqs").send_message(QueueUrl=poller.queue_url, MessageBody="kept")
    poller.poll_once()
    stats = poller.stats()
    assert (stats["enrichment_failures"], stats["batches_started"]) == (1, 0)
    assert stats["messages_deleted"] == 0
    assert "enrichment down" in (poller.last_error or "")
    assert _executions(local_stack, poller) == []


def test_the_enrichment_answer_is_the_input_and_an_empty_one_starts_nothing(
    local_stack: LocalStack,
) -> None:
    answers: list[Any] = [[{"batchPointer": {"records": 1}}], []]

    def enrich(records: list[dict[str, Any]]) -> Any:
        assert [record["body"] for record in records] == ["one"]
        return answers.pop(0)

    poller = _poller(local_stack, enrich)
    sqs = local_stack.client("sqs")
    for _ in range(2):
        sqs.send_message(QueueUrl=poller.queue_url, MessageBody="one")
        assert poller.poll_once() == 1
    stats = poller.stats()
    assert (stats["batches_started"], stats["enrichment_dropped"]) == (1, 1)
    assert stats["messages_deleted"] == 2
    assert _executions(local_stack, poller) == [[{"batchPointer": {"records": 1}}]]
