"""RedriveExecution on the local endpoint: failed work re-runs where it failed, under one ARN.

The failing step is a DynamoDB conditional put (``dynamodb:putItem``, run by moto's
interpreter): it fails while a "gate" item exists and succeeds once the test deletes it, so the
first attempt fails and the redrive succeeds without depending on any worker's memory. A Lambda
step before it (the ``echo`` fixture) shows that finished steps are not run again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.moto_patches.redrive import RedrivePoint, redrive_point, redrive_summary
from local.runtime import LocalStack, function_arn
from tests.local.state_machine_runs import history

_ROLE = "arn:aws:iam::123456789012:role/test"


@pytest.fixture(scope="module")
def gate_table(local_stack: LocalStack) -> Iterator[str]:
    # tests/local/test_conformance.py leaves tables named race-* out of its one-to-one check.
    name = f"race-redrive-gate-{uuid.uuid4().hex[:8]}"
    dynamodb = local_stack.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    dynamodb.delete_table(TableName=name)


def _claim(table: str, next_state: str | None = None) -> dict[str, Any]:
    """A Task that fails with DynamoDB.ConditionalCheckFailedException while the gate is shut."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:putItem",
        "Parameters": {
            "TableName": table,
            "Item": {"pk": {"S.$": "$.gate"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        },
        "ResultPath": None,
    }
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def _machine(stack: LocalStack, definition: dict[str, Any], **options: Any) -> str:
    created = stack.client("stepfunctions").create_state_machine(
        name=f"patch-test-redrive-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=_ROLE,
        **options,
    )
    return str(created["stateMachineArn"])


def _shut(stack: LocalStack, table: str, gate: str) -> None:
    stack.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": gate}})


def _open(stack: LocalStack, table: str, gate: str) -> None:
    stack.client("dynamodb").delete_item(TableName=table, Key={"pk": {"S": gate}})


def _start(stack: LocalStack, machine: str, payload: dict[str, Any]) -> str:
    started = stack.client("stepfunctions").start_execution(
        stateMachineArn=machine, name=f"run-{uuid.uuid4().hex[:8]}", input=json.dumps(payload)
    )
    return str(started["executionArn"])


def _history(stack: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
    return history(stack, execution_arn)


def _stop_in(stack: LocalStack, execution_arn: str, state: str, **reason: str) -> None:
    """Stop the execution once it is in ``state`` (a bounded wait, then StopExecution)."""
    deadline = time.monotonic() + 30
    while _entered(_history(stack, execution_arn)).count(state) < 1 + _redrives(
        stack, execution_arn
    ):
        assert time.monotonic() < deadline, f"{execution_arn} never entered {state}"
        time.sleep(0.01)
    stack.client("stepfunctions").stop_execution(executionArn=execution_arn, **reason)
    assert stack.wait_for_execution(execution_arn)["status"] == "ABORTED"


def _redrives(stack: LocalStack, execution_arn: str) -> int:
    return sum(e["type"] == "ExecutionRedriven" for e in _history(stack, execution_arn))


def _entered(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")
    ]


def _error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_failed_step_is_rerun_with_its_input_and_the_rest_continues(
    local_stack: LocalStack, gate_table: str
) -> None:
    echo = function_arn(local_stack.app, "echo")
    definition = {
        "StartAt": "Echo",
        "States": {
            "Echo": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": echo, "Payload.$": "$"},
                "ResultSelector": {"echoed.$": "$.Payload.gate"},
                "ResultPath": "$.echo",
                "Next": "Claim",
            },
            "Claim": _claim(gate_table, next_state="Done"),
            "Done": {"Type": "Pass", "Result": "done", "ResultPath": "$.done", "End": True},
        },
    }
    machine = _machine(local_stack, definition)
    gate = f"gate-{uuid.uuid4().hex[:8]}"
    _shut(local_stack, gate_table, gate)
    sfn = local_stack.client("stepfunctions")
    execution = _start(local_stack, machine, {"gate": gate})
    failed = local_stack.wait_for_execution(execution)
    assert failed["status"] == "FAILED"
    assert failed["error"] == "DynamoDB.ConditionalCheckFailedException"
    assert failed["redriveCount"] == 0
    assert failed["redriveStatus"] == "REDRIVABLE"
    first_attempt = _history(local_stack, execution)
    echo_calls = local_stack.pool.stats()[local_stack.app.physical_name("echo")]["invocations"]

    _open(local_stack, gate_table, gate)
    answer = sfn.redrive_execution(executionArn=execution)
    assert answer["redriveDate"]
    redriven = local_stack.wait_for_execution(execution)

    assert redriven["status"] == "SUCCEEDED"
    assert redriven["executionArn"] == execution
    assert redriven["startDate"] == failed["startDate"]
    assert redriven["redriveCount"] == 1
    assert redriven["redriveDate"] == answer["redriveDate"]
    assert json.loads(redriven["output"]) == {
        "gate": gate,
        "echo": {"echoed": gate},
        "done": "done",
    }
    assert json.loads(redriven["input"]) == {"gate": gate}

    events = _history(local_stack, execution)
    assert events[: len(first_attempt)] == first_attempt  # the old history stays as it was
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types.count("ExecutionStarted") == 1
    assert types.count("ExecutionRedriven") == 1
    redriven_at = types.index("ExecutionRedriven")
    assert types[redriven_at - 1] == "ExecutionFailed"
    assert events[redriven_at]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert events[redriven_at]["previousEventId"] == events[redriven_at - 1]["id"]
    assert _entered(events) == ["Echo", "Claim", "Claim", "Done"]
    claims = [
        e["stateEnteredEventDetails"]["input"]
        for e in events
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "Claim"
    ]
    assert claims[0] == claims[1]  # the failed step gets the input it had
    assert types[-1] == "ExecutionSucceeded"
    # The Lambda step that had succeeded was not run again.
    assert (
        local_stack.pool.stats()[local_stack.app.physical_name("echo")]["invocations"] == echo_calls
    )

    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=execution)
    assert _error_code(refused) == "ExecutionNotRedrivable"
    redriven_list = sfn.list_executions(stateMachineArn=machine, redriveFilter="REDRIVEN")
    assert [e["executionArn"] for e in redriven_list["executions"]] == [execution]
    assert redriven_list["executions"][0]["redriveCount"] == 1
    not_redriven = sfn.list_executions(stateMachineArn=machine, redriveFilter="NOT_REDRIVEN")
    assert not_redriven["executions"] == []


def test_an_execution_can_fail_again_and_be_redriven_again(
    local_stack: LocalStack, gate_table: str
) -> None:
    machine = _machine(
        local_stack,
        {
            "StartAt": "Prepare",
            "States": {
                "Prepare": {"Type": "Pass", "Next": "Claim"},
                "Claim": _claim(gate_table),
            },
        },
    )
    gate = f"gate-{uuid.uuid4().hex[:8]}"
    _shut(local_stack, gate_table, gate)
    sfn = local_stack.client("stepfunctions")
    execution = _start(local_stack, machine, {"gate": gate})
    assert local_stack.wait_for_execution(execution)["status"] == "FAILED"
    sfn.redrive_execution(executionArn=execution)
    again = local_stack.wait_for_execution(execution)
    assert again["status"] == "FAILED"
    assert again["redriveCount"] == 1
    _open(local_stack, gate_table, gate)
    sfn.redrive_execution(executionArn=execution)
    final = local_stack.wait_for_execution(execution)
    assert final["status"] == "SUCCEEDED"
    assert final["redriveCount"] == 2
    events = _history(local_stack, execution)
    assert [
        e["executionRedrivenEventDetails"]["redriveCount"]
        for e in events
        if e["type"] == "ExecutionRedriven"
    ] == [1, 2]
    assert _entered(events) == ["Prepare", "Claim", "Claim", "Claim"]


def test_a_failure_inside_a_parallel_reruns_the_parallel(
    local_stack: LocalStack, gate_table: str
) -> None:
    machine = _machine(
        local_stack,
        {
            "StartAt": "Both",
            "States": {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "Claim", "States": {"Claim": _claim(gate_table)}},
                        {"StartAt": "Note", "States": {"Note": {"Type": "Pass", "End": True}}},
                    ],
                    "End": True,
                }
            },
        },
    )
    gate = f"gate-{uuid.uuid4().hex[:8]}"
    _shut(local_stack, gate_table, gate)
    execution = _start(local_stack, machine, {"gate": gate})
    assert local_stack.wait_for_execution(execution)["status"] == "FAILED"
    _open(local_stack, gate_table, gate)
    local_stack.client("stepfunctions").redrive_execution(executionArn=execution)
    done = local_stack.wait_for_execution(execution)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == [{"gate": gate}, {"gate": gate}]
    types = [e["type"] for e in _history(local_stack, execution)]
    assert types.count("ParallelStateEntered") == 2


def test_running_and_succeeded_executions_are_not_redrivable(local_stack: LocalStack) -> None:
    sfn = local_stack.client("stepfunctions")
    quick = _machine(
        local_stack, {"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "End": True}}}
    )
    succeeded = _start(local_stack, quick, {})
    assert local_stack.wait_for_execution(succeeded)["status"] == "SUCCEEDED"
    described = sfn.describe_execution(executionArn=succeeded)
    assert described["redriveStatus"] == "NOT_REDRIVABLE"
    assert "SUCCEEDED" in described["redriveStatusReason"]
    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=succeeded)
    assert _error_code(refused) == "ExecutionNotRedrivable"

    # 10^6 s scaled by the tests' time scale is still far longer than this test.
    waiting = _machine(
        local_stack,
        {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 10**6, "End": True}}},
    )
    running = _start(local_stack, waiting, {})
    assert sfn.describe_execution(executionArn=running)["status"] == "RUNNING"
    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=running)
    assert _error_code(refused) == "ExecutionNotRedrivable"
    _stop_in(local_stack, running, "Hold")

    missing = running.rsplit(":", 1)[0] + ":no-such-execution"
    with pytest.raises(ClientError) as unknown:
        sfn.redrive_execution(executionArn=missing)
    assert _error_code(unknown) == "ExecutionDoesNotExist"


def test_an_aborted_execution_resumes_the_step_it_was_stopped_in(local_stack: LocalStack) -> None:
    sfn = local_stack.client("stepfunctions")
    machine = _machine(
        local_stack,
        {
            "StartAt": "Greet",
            "States": {
                "Greet": {
                    "Type": "Pass",
                    "Result": "hi",
                    "ResultPath": "$.greeting",
                    "Next": "Hold",
                },
                "Hold": {"Type": "Wait", "Seconds": 10**6, "End": True},
            },
        },
    )
    execution = _start(local_stack, machine, {"n": 1})
    _stop_in(local_stack, execution, "Hold", error="Operator", cause="testing")
    sfn.redrive_execution(executionArn=execution)
    resumed = sfn.describe_execution(executionArn=execution)
    assert resumed["status"] == "RUNNING"
    assert resumed["redriveCount"] == 1
    assert resumed["redriveStatus"] == "NOT_REDRIVABLE"
    _stop_in(local_stack, execution, "Hold")
    events = _history(local_stack, execution)
    assert _entered(events) == ["Greet", "Hold", "Hold"]
    holds = [
        e["stateEnteredEventDetails"]["input"] for e in events if e["type"] == "WaitStateEntered"
    ]
    assert [json.loads(h) for h in holds] == [{"n": 1, "greeting": "hi"}] * 2
    assert [e["type"] for e in events].count("ExecutionAborted") == 2


def test_the_same_client_token_redrives_once(local_stack: LocalStack) -> None:
    sfn = local_stack.client("stepfunctions")
    machine = _machine(
        local_stack,
        {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 10**6, "End": True}}},
    )
    execution = _start(local_stack, machine, {})
    _stop_in(local_stack, execution, "Hold")
    first = sfn.redrive_execution(executionArn=execution, clientToken="retry-safe")
    second = sfn.redrive_execution(executionArn=execution, clientToken="retry-safe")
    assert first["redriveDate"] == second["redriveDate"]
    assert sfn.describe_execution(executionArn=execution)["redriveCount"] == 1
    _stop_in(local_stack, execution, "Hold")


def test_a_timed_out_execution_is_redrivable(local_stack: LocalStack) -> None:
    sfn = local_stack.client("stepfunctions")
    machine = _machine(
        local_stack,
        {
            "TimeoutSeconds": 1,
            "StartAt": "Hold",
            "States": {"Hold": {"Type": "Wait", "Seconds": 10**6, "End": True}},
        },
    )
    execution = _start(local_stack, machine, {})
    assert local_stack.wait_for_execution(execution)["status"] == "TIMED_OUT"
    assert sfn.describe_execution(executionArn=execution)["redriveStatus"] == "REDRIVABLE"
    sfn.redrive_execution(executionArn=execution)
    again = local_stack.wait_for_execution(execution)
    assert again["status"] == "TIMED_OUT"
    assert again["redriveCount"] == 1


def test_express_executions_are_not_redrivable(local_stack: LocalStack) -> None:
    sfn = local_stack.client("stepfunctions")
    machine = _machine(
        local_stack,
        {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom"}}},
        type="EXPRESS",
    )
    execution = _start(local_stack, machine, {})
    assert local_stack.wait_for_execution(execution)["status"] == "FAILED"
    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=execution)
    assert _error_code(refused) == "ExecutionNotRedrivable"


# --- where a redrive resumes (pure) ---------------------------------------------------------


def _event(kind: str, name: str | None = None, payload: Any = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind}
    if kind.endswith("StateEntered"):
        event["stateEnteredEventDetails"] = {"name": name, "input": json.dumps(payload)}
    elif kind.endswith("StateExited"):
        event["stateExitedEventDetails"] = {"name": name}
    return event


DEFINITION = {
    "StartAt": "A",
    "States": {"A": {}, "Fan": {}, "B": {}},
}


def test_the_redrive_point_is_the_last_top_level_state_left_open() -> None:
    history = [
        _event("ExecutionStarted"),
        _event("PassStateEntered", "A", {"a": 1}),
        _event("PassStateExited", "A"),
        _event("ParallelStateEntered", "Fan", {"f": 1}),
        _event("TaskStateEntered", "Inner", {"i": 1}),
        _event("ExecutionFailed"),
    ]
    assert redrive_point(DEFINITION, history, {"x": 0}) == RedrivePoint("Fan", {"f": 1})


def test_the_redrive_point_follows_the_latest_attempt() -> None:
    history = [
        _event("TaskStateEntered", "A", 1),
        _event("ExecutionFailed"),
        _event("ExecutionRedriven"),
        _event("TaskStateEntered", "A", 1),
        _event("TaskStateExited", "A"),
        _event("TaskStateEntered", "B", 2),
        _event("ExecutionFailed"),
    ]
    assert redrive_point(DEFINITION, history, None) == RedrivePoint("B", 2)


def test_without_any_state_entered_the_redrive_starts_over() -> None:
    assert redrive_point(DEFINITION, [_event("ExecutionStarted")], {"x": 0}) == RedrivePoint(
        "A", {"x": 0}
    )


def test_the_redrive_summary_counts_redrives_and_dates_the_last() -> None:
    history = [
        {"type": "ExecutionRedriven", "timestamp": "2026-01-01T00:00:00.000Z"},
        {"type": "ExecutionRedriven", "timestamp": "2026-01-02T00:00:00.000Z"},
    ]
    count, date = redrive_summary(history)
    assert count == 2
    assert date is not None
    assert date.isoformat() == "2026-01-02T00:00:00+00:00"


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_redrives_against_the_local_endpoint(local_stack: LocalStack) -> None:
    machine = _machine(local_stack, {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail"}}})
    execution = _start(local_stack, machine, {})
    local_stack.wait_for_execution(execution)
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": local_stack.app.config.region,
    }
    command = ["aws", "--endpoint-url", local_stack.endpoint_url, "stepfunctions"]
    done = subprocess.run(
        [*command, "redrive-execution", "--execution-arn", execution],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "redriveDate" in json.loads(done.stdout)
    assert local_stack.wait_for_execution(execution)["redriveCount"] == 1
