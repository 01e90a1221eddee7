"""Limits the interpreter enforces while an execution runs.

Pages: "Wait workflow state" (https://docs.aws.amazon.com/step-functions/latest/dg/state-wait.html)
and "Task workflow state" (https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html:
TimeoutSecondsPath and HeartbeatSecondsPath "must resolve to positive integers").
"""

from __future__ import annotations

from typing import Any

import pytest

from local.runtime import LocalStack
from tests.local.state_machine_runs import run_definition


def _one_state(state: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": "Only", "States": {"Only": {**state, "End": True}}}


@pytest.mark.parametrize(
    ("wait", "payload"),
    [
        ({"Seconds": 100_000_000}, {}),
        ({"SecondsPath": "$.seconds"}, {"seconds": 100_000_000}),
    ],
)
def test_a_wait_beyond_the_maximum_fails_at_once(
    local_stack: LocalStack, wait: dict[str, Any], payload: dict[str, Any]
) -> None:
    run = run_definition(local_stack, _one_state({"Type": "Wait", **wait}), payload)
    assert run.status == "FAILED"
    assert run.described["error"] == "States.Runtime"
    assert "99999999 seconds" in run.described["cause"]
    assert [event["type"] for event in run.events] == [
        "ExecutionStarted",
        "WaitStateEntered",
        "ExecutionFailed",
    ]


@pytest.mark.parametrize(
    ("field", "payload", "cause"),
    [
        ("TimeoutSecondsPath", {}, "Invalid path '$.seconds'"),
        ("TimeoutSecondsPath", {"seconds": "ten"}, 'is "ten"'),
        ("HeartbeatSecondsPath", {"seconds": 0}, "is 0"),
    ],
)
def test_an_invalid_timeout_path_fails_the_task_once(
    local_stack: LocalStack, field: str, payload: dict[str, Any], cause: str
) -> None:
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "does-not-matter"},
        field: "$.seconds",
    }
    if field == "HeartbeatSecondsPath":
        task["TimeoutSeconds"] = 600
    run = run_definition(local_stack, _one_state(task), payload)
    assert run.status == "FAILED"
    assert run.described["error"] == "States.Runtime"
    assert cause in run.described["cause"]
    types = [event["type"] for event in run.events]
    assert types == ["ExecutionStarted", "TaskStateEntered", "TaskFailed", "ExecutionFailed"]
