"""Lambdas run as Lambdas: workflows see their errors, timeouts and throttles as on AWS."""

from __future__ import annotations

import json
from typing import Any

from local.clock import WaitKind
from local.runtime import LocalStack


def _execute(
    stack: LocalStack, workflow: str, name: str, payload: dict[str, Any]
) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn(workflow), name=name, input=json.dumps(payload)
    )
    return stack.wait_for_execution(started["executionArn"])


def _history(stack: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = stack.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return events


def test_retry_matches_the_exception_class_name_and_follows_the_schedule(
    local_stack: LocalStack,
) -> None:
    described = _execute(local_stack, "retrying", "retry-1", {"key": "retry-1", "failures": 2})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"key": "retry-1", "attempts": 3}
    failures = [
        e["taskFailedEventDetails"]["error"]
        for e in _history(local_stack, described["executionArn"])
        if e["type"] == "TaskFailed"
    ]
    assert failures == ["TransientDeliveryError", "TransientDeliveryError"]
    retries = [
        w.requested_seconds
        for w in local_stack.time_scale.schedule_for(described["executionArn"])
        if w.kind is WaitKind.RETRY
    ]
    assert retries == [5, 10]


def test_retry_gives_up_after_max_attempts(local_stack: LocalStack) -> None:
    described = _execute(local_stack, "retrying", "retry-2", {"key": "retry-2", "failures": 9})
    assert described["status"] == "FAILED"
    assert described["error"] == "TransientDeliveryError"
    cause = json.loads(described["cause"])
    assert cause["errorType"] == "TransientDeliveryError"
    assert "attempt 4 of retry-2 failed" in cause["errorMessage"]
    assert cause["stackTrace"]


def test_catch_routes_by_exception_class_name(local_stack: LocalStack) -> None:
    described = _execute(local_stack, "catching", "catch-1", {"key": "order-7"})
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["error"]["Error"] == "PermanentDeliveryError"
    assert "downstream refused order-7" in output["error"]["Cause"]
    assert output["handled"] == {"handled": True}


def test_a_lambda_that_outlives_its_timeout_fails_as_on_aws(local_stack: LocalStack) -> None:
    described = _execute(local_stack, "timing_out", "timeout-1", {"seconds": 30})
    assert described["status"] == "SUCCEEDED"
    error = json.loads(described["output"])["error"]
    assert error["Error"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["Cause"]


def test_wait_states_follow_the_time_scale_and_record_what_was_asked(
    local_stack: LocalStack,
) -> None:
    described = _execute(local_stack, "waiting", "wait-1", {"hello": "world"})
    assert described["status"] == "SUCCEEDED"
    waits = local_stack.time_scale.schedule_for(described["executionArn"])
    assert [(w.kind, w.requested_seconds) for w in waits] == [(WaitKind.WAIT_STATE, 300)]
    assert waits[0].slept_seconds == 300 * local_stack.time_scale.factor
