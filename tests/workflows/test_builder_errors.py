"""LambdaInvoke defaults, and Retry/Catch built from exception classes and named policies."""

from __future__ import annotations

from typing import Any

import pytest

from functions._shared.errors import InvalidEnvelopeError, TransientDependencyError
from tests.workflows.support import function_arn
from workflows.builder import (
    DISCARD,
    Catch,
    DefinitionError,
    Fail,
    JitterStrategy,
    LambdaError,
    LambdaInvoke,
    Retry,
    StateMachine,
    StatesError,
    error_name,
)

SERVICE_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2.0,
    "MaxDelaySeconds": 30,
    "JitterStrategy": "FULL",
}


def _task(task: LambdaInvoke) -> dict[str, Any]:
    rendered: dict[str, Any] = StateMachine(start=task).render(function_arn)["States"][task.name]
    return rendered


def test_lambda_invoke_defaults() -> None:
    assert _task(LambdaInvoke("Validate events", function="validate")) == {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn("validate"), "Payload.$": "$"},
        "TimeoutSeconds": 60,
        "OutputPath": "$.Payload",
        "Retry": [SERVICE_RETRY],
        "End": True,
    }


def test_the_service_retrier_comes_first_and_can_be_left_out() -> None:
    transient = Retry.on(TransientDependencyError)
    with_default = LambdaInvoke("With", function="f", retry=[transient])
    without = LambdaInvoke(
        "Without", function="f", retry=[transient], retry_on_service_errors=False
    )

    assert _task(with_default)["Retry"] == [SERVICE_RETRY, transient.render()]
    assert _task(without)["Retry"] == [transient.render()]


def test_no_retry_key_when_nothing_is_retried() -> None:
    assert "Retry" not in _task(LambdaInvoke("Bare", function="f", retry_on_service_errors=False))


def test_custom_payload_selector_and_result_path() -> None:
    task = LambdaInvoke(
        "Record failure",
        function="update_status",
        payload={"trackingId.$": "$.trackingId", "status": "FAILED"},
        result_selector={"status.$": "$.Payload.status"},
        result_path="$.recorded",
        output_path=None,
        timeout_seconds=10,
        retry_on_service_errors=False,
    )

    assert _task(task) == {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": function_arn("update_status"),
            "Payload": {"trackingId.$": "$.trackingId", "status": "FAILED"},
        },
        "TimeoutSeconds": 10,
        "ResultSelector": {"status.$": "$.Payload.status"},
        "ResultPath": "$.recorded",
        "End": True,
    }


def test_a_discarded_result_keeps_the_input() -> None:
    task = LambdaInvoke("Side effect", function="f", result_path=DISCARD, output_path=None)

    assert _task(task)["ResultPath"] is None
    assert "OutputPath" not in _task(task)


def test_the_task_timeout_must_be_positive() -> None:
    with pytest.raises(DefinitionError):
        LambdaInvoke("Never", function="f", timeout_seconds=0)


def test_errors_render_from_exception_classes_and_constants() -> None:
    retry = Retry.on(
        TransientDependencyError,
        StatesError.TIMEOUT,
        LambdaError.UNKNOWN,
        interval=3,
        max_attempts=4,
        backoff=1.5,
        max_delay=20,
        jitter=JitterStrategy.NONE,
    )

    assert retry.render() == {
        "ErrorEquals": ["TransientDependencyError", "States.Timeout", "Lambda.Unknown"],
        "IntervalSeconds": 3,
        "MaxAttempts": 4,
        "BackoffRate": 1.5,
        "MaxDelaySeconds": 20,
        "JitterStrategy": "NONE",
    }
    assert error_name(InvalidEnvelopeError) == "InvalidEnvelopeError"


def test_the_named_service_policy() -> None:
    assert Retry.lambda_service_errors().render() == SERVICE_RETRY
    assert Retry.lambda_service_errors(max_delay=5).render()["MaxDelaySeconds"] == 5


@pytest.mark.parametrize(
    "kwargs", [{"interval": 0}, {"max_attempts": -1}, {"backoff": 0.5}, {"max_delay": 0}]
)
def test_retry_settings_asl_refuses_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(DefinitionError):
        Retry.on(TransientDependencyError, **kwargs)


def test_states_all_must_stand_alone() -> None:
    with pytest.raises(DefinitionError, match="only error"):
        Retry.on(StatesError.ALL, TransientDependencyError)
    with pytest.raises(DefinitionError, match="at least one"):
        Retry.on()


def test_states_all_must_come_last() -> None:
    target = Fail("Failed")
    task = LambdaInvoke(
        "Catch all first",
        function="f",
        catch=[
            Catch.on(StatesError.ALL, next=target),
            Catch.on(InvalidEnvelopeError, next=target),
        ],
    )

    with pytest.raises(DefinitionError, match="last"):
        StateMachine(start=task).render(function_arn)


def test_catchers_render_and_lead_to_their_handlers() -> None:
    rejected = Fail("Rejected", error=InvalidEnvelopeError)
    failed = Fail("Failed", error_path="$.error.Error")
    task = LambdaInvoke(
        "Validate events",
        function="validate",
        catch=[
            Catch.on(InvalidEnvelopeError, next=rejected),
            Catch.on(StatesError.ALL, next=failed, result_path="$.error"),
        ],
    )

    states = StateMachine(start=task).render(function_arn)["States"]

    assert states["Validate events"]["Catch"] == [
        {"ErrorEquals": ["InvalidEnvelopeError"], "Next": "Rejected"},
        {"ErrorEquals": ["States.ALL"], "Next": "Failed", "ResultPath": "$.error"},
    ]
    assert list(states) == ["Validate events", "Rejected", "Failed"]


def test_retry_and_catch_lists_are_copied_at_construction() -> None:
    retry = [Retry.on(TransientDependencyError)]
    task = LambdaInvoke("Copied", function="f", retry=retry, retry_on_service_errors=False)
    retry.append(Retry.on(InvalidEnvelopeError))

    assert len(_task(task)["Retry"]) == 1
