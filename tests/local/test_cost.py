"""The cost meter counts what the local runtime really did: real traffic through a running stack,
checked against the histories, the Lambda pool and requests whose size is known."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from local.cli import main
from local.cost import baseline, format_report, price, report
from local.cost.histories import billed_transitions, lambda_invocations
from local.cost.usage import usage_from
from local.json_http import request_json
from local.moto_patches import USAGE_PATH
from local.runtime import REPO_ROOT, LocalStack
from tests.local_lambdas.conftest import wait_until

pytestmark = pytest.mark.local

KIB = 1024


def _served(stack: LocalStack) -> dict[str, Any]:
    status, served = request_json("GET", stack.endpoint_url + USAGE_PATH)
    assert status == 200
    assert isinstance(served, dict)
    return served


def _requests(served: dict[str, Any], service: str) -> Counter[str]:
    rows = [row for row in served["requests"] if row["service"] == service]
    return Counter({row["operation"]: row["requests"] for row in rows})


def _chunks(served: dict[str, Any], service: str) -> int:
    return sum(row["chunks"] for row in served["requests"] if row["service"] == service)


def _units(served: dict[str, Any]) -> tuple[float, int]:
    return served["dynamodb"]["readUnits"], served["dynamodb"]["writeUnits"]


def _invocations(served: dict[str, Any]) -> Counter[str]:
    return Counter(
        {name: stats["invocations"] for name, stats in served["runtime"]["lambda"].items()}
    )


def _run(stack: LocalStack, workflow: str, document: dict[str, Any]) -> list[dict[str, Any]]:
    """Start an execution, wait for it, and answer its history."""
    sfn = stack.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn(workflow),
        name=f"cost-{uuid.uuid4().hex[:12]}",
        input=json.dumps(document),
    )
    described = stack.wait_for_execution(started["executionArn"], timeout_seconds=120)
    assert described["status"] == "SUCCEEDED", described
    events: list[dict[str, Any]] = sfn.get_execution_history(
        executionArn=started["executionArn"], maxResults=1000
    )["events"]
    return events


def _envelope(events: int) -> dict[str, Any]:
    example = json.loads(Path(REPO_ROOT / "examples" / "envelope.json").read_text())
    template = example["events"][0]
    fresh = []
    for _ in range(events):
        event = copy.deepcopy(template)
        event["eventHeader"]["uuid"] = str(uuid.uuid4())
        fresh.append(event)
    return {"trackingId": f"trk-cost-{uuid.uuid4().hex[:12]}", "source": "cli", "events": fresh}


def _ingest_quiet(stack: LocalStack) -> bool:
    """No ingest execution running and nothing queued for one (earlier tests may leave some)."""
    sfn, sqs = stack.client("stepfunctions"), stack.client("sqs")
    running = sfn.list_executions(
        stateMachineArn=stack.state_machine_arn("ingest"), statusFilter="RUNNING", maxResults=1
    )["executions"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.queue_url("ingest"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return not running and not any(int(count) for count in attributes.values())


def test_an_ingest_execution_bills_its_histories_transitions_and_invocations(
    local_stack: LocalStack,
) -> None:
    wait_until(lambda: _ingest_quiet(local_stack), "earlier ingest traffic to finish", 120)
    before = _served(local_stack)
    history = _run(local_stack, "ingest", _envelope(5))
    after = _served(local_stack)

    entered = [event for event in history if event["type"].endswith("StateEntered")]
    assert billed_transitions(history) == len(entered) >= 10  # the happy path, no retries
    invoked = lambda_invocations(history)
    assert set(invoked) >= {local_stack.app.physical_name(f) for f in ("validate", "dedupe")}
    # Every invocation the history shows ran in the pool, and nothing else ran meanwhile.
    assert _invocations(after) - _invocations(before) == invoked
    read_before, written_before = _units(before)
    read_after, written_after = _units(after)
    assert written_after - written_before >= 5  # a claim per fresh event at least
    assert read_after > read_before
    assert _requests(after, "s3") - _requests(before, "s3")  # the bundle was stored


def test_retries_are_billed_as_transitions(local_stack: LocalStack) -> None:
    before = _served(local_stack)
    history = _run(local_stack, "retrying", {"key": uuid.uuid4().hex, "failures": 2})
    after = _served(local_stack)

    # Task and Succeed entered, plus two retries of the task.
    assert billed_transitions(history) == 4
    flaky = local_stack.app.physical_name("flaky")
    assert lambda_invocations(history) == Counter({flaky: 3})
    assert (_invocations(after) - _invocations(before))[flaky] == 3


def test_dynamodb_capacity_units_follow_item_sizes_and_consistency(
    local_stack: LocalStack,
) -> None:
    dynamodb = local_stack.client("dynamodb")
    table = f"cost-meter-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    big = {"pk": {"S": "big"}, "blob": {"S": "x" * (5 * KIB // 2)}}  # 2.5 KiB: 3 WRU
    small = {"pk": {"S": "small"}, "note": {"S": "hi"}}

    def consumed(request: Any) -> tuple[float, int]:
        before = _units(_served(local_stack))
        request()
        after = _units(_served(local_stack))
        return after[0] - before[0], after[1] - before[1]

    assert consumed(lambda: dynamodb.put_item(TableName=table, Item=big)) == (0.0, 3)
    assert consumed(lambda: dynamodb.put_item(TableName=table, Item=small)) == (0.0, 1)
    refused = dynamodb.exceptions.ConditionalCheckFailedException

    def refused_put() -> None:
        with pytest.raises(refused):
            dynamodb.put_item(
                TableName=table, Item=small, ConditionExpression="attribute_not_exists(pk)"
            )

    assert consumed(refused_put) == (0.0, 1)
    key = {"pk": {"S": "big"}}
    assert consumed(lambda: dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)) == (
        1.0,
        0,
    )
    assert consumed(lambda: dynamodb.get_item(TableName=table, Key=key)) == (0.5, 0)
    assert consumed(lambda: dynamodb.get_item(TableName=table, Key={"pk": {"S": "absent"}})) == (
        0.5,
        0,
    )
    assert consumed(lambda: dynamodb.delete_item(TableName=table, Key={"pk": {"S": "small"}})) == (
        0.0,
        1,
    )
    dynamodb.delete_table(TableName=table)


def test_sqs_and_s3_requests_are_counted_as_billed(local_stack: LocalStack) -> None:
    sqs, s3 = local_stack.client("sqs"), local_stack.client("s3")
    queue_url = sqs.create_queue(QueueName=f"cost-meter-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    bucket = f"cost-meter-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    before = _served(local_stack)

    sqs.send_message(QueueUrl=queue_url, MessageBody="x" * (100 * KIB))  # two 64 KiB chunks
    sqs.send_message(QueueUrl=queue_url, MessageBody="small")
    s3.put_object(Bucket=bucket, Key="a/b.json", Body=b"{}")
    s3.get_object(Bucket=bucket, Key="a/b.json")
    s3.list_objects_v2(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="a/b.json")
    after = _served(local_stack)

    assert _requests(after, "sqs") - _requests(before, "sqs") == Counter({"SendMessage": 2})
    assert _chunks(after, "sqs") - _chunks(before, "sqs") == 3
    assert _requests(after, "s3") - _requests(before, "s3") == Counter(
        {"PUT object": 1, "GET object": 1, "GET bucket": 1, "DELETE object": 1}
    )
    sqs.delete_queue(QueueUrl=queue_url)
    s3.delete_bucket(Bucket=bucket)


def test_the_report_prices_every_workflow_and_reading_it_is_not_metered(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(local_stack, "ingest", _envelope(2))
    before = _served(local_stack)

    priced = report(local_stack)
    code = main(["cost", "--endpoint", local_stack.endpoint_url])
    after = _served(local_stack)

    assert _requests(after, "states") == _requests(before, "states")
    ingest = next(w for w in priced.workflows if w.workflow.endswith("-ingest"))
    assert ingest.executions >= 1
    assert ingest.events >= 2
    assert priced.events >= ingest.events
    assert priced.by_service()["Step Functions"] > 0
    assert priced.by_service()["Lambda"] > 0
    assert priced.per_million_events() is not None
    assert code == 0
    printed = capsys.readouterr().out
    assert "Standard state transitions" in printed
    assert "per million events" in printed
    # The same served usage prices the same without the stack.
    assert format_report(price(usage_from(before, []))).count("Lambda") >= 1


def test_a_report_since_a_baseline_prices_only_what_came_after(local_stack: LocalStack) -> None:
    _run(local_stack, "ingest", _envelope(2))
    since = baseline(local_stack.endpoint_url)
    history = _run(local_stack, "ingest", _envelope(3))

    priced = report(local_stack, since=since)

    ingest = next(w for w in priced.workflows if w.workflow.endswith("-ingest"))
    assert (ingest.executions, ingest.events) == (1, 3)
    assert ingest.transitions == billed_transitions(history)
    assert priced.events == 3
    lambda_requests = sum(
        line.quantity
        for line in priced.lines
        if (line.service, line.item) == ("Lambda", "requests")
    )
    assert lambda_requests == sum(lambda_invocations(history).values())
