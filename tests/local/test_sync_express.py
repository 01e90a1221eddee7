"""``StartSyncExecution`` on the local endpoint, as the API reference describes it.

Page: https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartSyncExecution.html
(HTTP 200 even when the execution failed; ``status`` SUCCEEDED, FAILED or TIMED_OUT;
``billingDetails``; Express state machines only).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.runtime import LocalStack
from tests.local.state_machine_runs import create_machine

DOUBLE = {
    "QueryLanguage": "JSONata",
    "StartAt": "Double",
    "States": {"Double": {"Type": "Pass", "Output": "{% $states.input.n * 2 %}", "End": True}},
}


def _express(stack: LocalStack) -> str:
    return create_machine(stack, DOUBLE, type="EXPRESS")


def _start_sync(stack: LocalStack, machine_arn: str, payload: Any) -> dict[str, Any]:
    answer: dict[str, Any] = stack.client("stepfunctions").start_sync_execution(
        stateMachineArn=machine_arn, input=json.dumps(payload)
    )
    return answer


def test_a_succeeded_execution_answers_its_output_and_billing(local_stack: LocalStack) -> None:
    machine = _express(local_stack)
    answer = _start_sync(local_stack, machine, {"n": 21})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == 42
    assert answer["stateMachineArn"] == machine
    assert ":express:" in answer["executionArn"]
    assert answer["startDate"] <= answer["stopDate"]
    billing = answer["billingDetails"]
    # Express is billed in 64 MB and 100 ms units (aws.amazon.com/step-functions/pricing).
    assert billing["billedMemoryUsedInMB"] == 64
    assert billing["billedDurationInMilliseconds"] >= 100
    assert billing["billedDurationInMilliseconds"] % 100 == 0


def test_a_failed_execution_still_answers_200_with_error_and_cause(local_stack: LocalStack) -> None:
    answer = _start_sync(local_stack, _express(local_stack), {"n": "not a number"})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["status"] == "FAILED"
    assert answer["error"] == "States.QueryEvaluationError"
    assert "'$states.input.n * 2'" in answer["cause"]
    assert "output" not in answer


def test_a_standard_machine_is_refused(local_stack: LocalStack) -> None:
    standard = create_machine(local_stack, DOUBLE)
    with pytest.raises(ClientError) as refused:
        _start_sync(local_stack, standard, {"n": 1})
    assert refused.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


def test_sync_executions_are_not_listed_afterwards(local_stack: LocalStack) -> None:
    # Express executions have no ListExecutions/DescribeExecution record of a sync run.
    machine = _express(local_stack)
    _start_sync(local_stack, machine, {"n": 1})
    listed = local_stack.client("stepfunctions").list_executions(stateMachineArn=machine)
    assert listed["executions"] == []


def test_the_documented_client_setting_reaches_the_local_endpoint(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SDKs send StartSyncExecution to the "sync-" host prefix; the README tells clients to turn
    # it off with AWS_DISABLE_HOST_PREFIX_INJECTION, which the AWS CLI reads too.
    monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    plain = boto3.client(
        "stepfunctions",
        endpoint_url=local_stack.endpoint_url,
        region_name=local_stack.app.config.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    answer = plain.start_sync_execution(
        stateMachineArn=_express(local_stack), input=json.dumps({"n": 2})
    )
    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == 4
