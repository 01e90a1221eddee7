"""The context object and what ``StartExecution`` refuses at the call.

Pages: "Accessing execution data from the Context object in Step Functions"
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html: its
example writes "StartTime": "2019-03-26T20:14:13.192Z" and "EnteredTime":
"2019-03-26T20:14:13.192Z", and lists Execution.RedriveCount); "Step Functions service quotas"
(https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html: 256 KiB of input).
"""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from local.runtime import LocalStack
from tests.local.state_machine_runs import create_machine, run_definition, run_machine

_AWS_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def test_times_are_milliseconds_with_z_in_both_query_languages(local_stack: LocalStack) -> None:
    definition = {
        "StartAt": "Path",
        "States": {
            "Path": {"Type": "Pass", "Parameters": {"context.$": "$$"}, "Next": "Nata"},
            "Nata": {
                "Type": "Pass",
                "QueryLanguage": "JSONata",
                "Output": {"path": "{% $states.input.context %}", "nata": "{% $states.context %}"},
                "End": True,
            },
        },
    }
    run = run_definition(local_stack, definition)
    assert run.status == "SUCCEEDED", run.described
    for which, context in run.output.items():
        execution = context["Execution"]
        assert _AWS_TIME.fullmatch(execution["StartTime"]), which
        assert _AWS_TIME.fullmatch(context["State"]["EnteredTime"]), which
        assert execution["RedriveCount"] == 0, which
        assert context["State"]["RetryCount"] == 0, which
    assert run.output["path"]["State"]["Name"] == "Path"
    assert run.output["nata"]["State"]["Name"] == "Nata"


def test_redrive_count_counts_the_redrives(local_stack: LocalStack) -> None:
    # The first run fails in "Check"; the redrive re-runs "Check", which sees RedriveCount 1.
    once = (
        "{% $states.context.Execution.RedriveCount = 0 ? $error('first attempt')"
        " : {'nata': $states.context.Execution.RedriveCount} %}"
    )
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": once, "Next": "Report"},
            "Report": {
                "Type": "Pass",
                "Parameters": {"nata.$": "$.nata", "path.$": "$$.Execution.RedriveCount"},
                "End": True,
            },
        },
    }
    machine = create_machine(local_stack, definition)
    first = run_machine(local_stack, machine)
    assert first.described["error"] == "States.QueryEvaluationError"
    sfn = local_stack.client("stepfunctions")
    execution_arn = first.described["executionArn"]
    sfn.redrive_execution(executionArn=execution_arn)
    redriven = local_stack.wait_for_execution(execution_arn)
    assert redriven["status"] == "SUCCEEDED", redriven
    assert json.loads(redriven["output"]) == {"nata": 1, "path": 1}


@pytest.mark.parametrize("operation", ["start_execution", "start_sync_execution"])
def test_input_over_256_kib_is_refused_at_the_call(local_stack: LocalStack, operation: str) -> None:
    machine_type = "EXPRESS" if operation == "start_sync_execution" else "STANDARD"
    machine = create_machine(
        local_stack,
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        type=machine_type,
    )
    oversized = json.dumps({"blob": "x" * 262_144})
    with pytest.raises(ClientError) as refused:
        getattr(local_stack.client("stepfunctions"), operation)(
            stateMachineArn=machine, input=oversized
        )
    assert refused.value.response["Error"]["Code"] == "InvalidExecutionInput"
    listed = local_stack.client("stepfunctions").list_executions(stateMachineArn=machine)
    assert listed["executions"] == []
