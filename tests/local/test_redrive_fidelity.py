"""Redrive as AWS runs it: only a Map's failed iterations again, on the execution's own version.

Pages: "Redriving Map Runs in Step Functions executions"
(https://docs.aws.amazon.com/step-functions/latest/dg/redrive-map-run.html) and "Restarting
state machine executions with redrive in Step Functions"
(https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html: "redrive uses the
same state machine definition and ARN ... the execution was started with").
"""

from __future__ import annotations

import json
from typing import Any

from local.runtime import LocalStack
from tests.local.state_machine_runs import create_machine, history, jsonata_definition, run_machine

# An item marked "fail" fails until the execution is redriven; the others give n x 10.
_FIRST_ATTEMPT_FAILS = (
    "{% $states.context.Execution.RedriveCount = 0 and $states.input.fail"
    " ? $error('first attempt') : $states.input.n * 10 %}"
)


def _redrive(stack: LocalStack, execution_arn: str) -> dict[str, Any]:
    stack.client("stepfunctions").redrive_execution(executionArn=execution_arn)
    return stack.wait_for_execution(execution_arn)


def _after_last_redrive(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = max(i for i, event in enumerate(events) if event["type"] == "ExecutionRedriven")
    return events[last + 1 :]


def test_a_redriven_map_reruns_only_its_failed_iterations(local_stack: LocalStack) -> None:
    definition = jsonata_definition(
        "Each",
        {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 1,
                "Items": "{% $states.input.items %}",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Work",
                    "States": {
                        "Work": {"Type": "Pass", "Output": _FIRST_ATTEMPT_FAILS, "End": True}
                    },
                },
                "End": True,
            }
        },
    )
    # One at a time: 0 and 1 succeed, 2 fails, and the Map stops before 3 starts.
    items = [{"n": 1}, {"n": 2}, {"n": 3, "fail": True}, {"n": 4}]
    first = run_machine(local_stack, create_machine(local_stack, definition), {"items": items})
    assert first.status == "FAILED"
    execution_arn = first.described["executionArn"]

    redriven = _redrive(local_stack, execution_arn)
    assert redriven["status"] == "SUCCEEDED", redriven
    assert json.loads(redriven["output"]) == [10, 20, 30, 40]
    rerun = [
        event["mapIterationStartedEventDetails"]["index"]
        for event in _after_last_redrive(history(local_stack, execution_arn))
        if event["type"] == "MapIterationStarted"
    ]
    assert rerun == [2, 3]


def test_a_redrive_runs_the_definition_the_execution_started_with(local_stack: LocalStack) -> None:
    def version(label: str) -> dict[str, Any]:
        gate = (
            "{% $states.context.Execution.RedriveCount = 0 ? $error('first attempt')"
            f" : '{label}' %}}"
        )
        return {
            "QueryLanguage": "JSONata",
            "StartAt": "Gate",
            "States": {"Gate": {"Type": "Pass", "Output": gate, "End": True}},
        }

    machine = create_machine(local_stack, version("v1"))
    first = run_machine(local_stack, machine)
    assert first.status == "FAILED"
    local_stack.client("stepfunctions").update_state_machine(
        stateMachineArn=machine, definition=json.dumps(version("v2"))
    )
    redriven = _redrive(local_stack, first.described["executionArn"])
    assert redriven["status"] == "SUCCEEDED", redriven
    assert json.loads(redriven["output"]) == "v1"
    # A new execution runs the new version.
    second = run_machine(local_stack, machine)
    redriven_second = _redrive(local_stack, second.described["executionArn"])
    assert json.loads(redriven_second["output"]) == "v2"
