"""Rendering of each state type and its checks."""

from __future__ import annotations

from typing import Any

import pytest

from functions._shared.errors import InvalidEnvelopeError
from tests.workflows.support import function_arn
from workflows.builder import (
    DISCARD,
    Chain,
    Choice,
    Condition,
    DefinitionError,
    Fail,
    LambdaInvoke,
    Map,
    Parallel,
    Pass,
    StateMachine,
    Succeed,
    Wait,
)


def _states(start: Any) -> dict[str, Any]:
    states: dict[str, Any] = StateMachine(start=start).render(function_arn)["States"]
    return states


def test_choice_renders_rules_in_order_with_a_default() -> None:
    choice = (
        Choice("Which way?", comment="Route by kind.")
        .when(Condition.string_equals("$.kind", "order"), Succeed("Order"))
        .when(Condition.numeric_greater_than("$.count", 10), Succeed("Many"))
        .otherwise(Succeed("Other"))
    )

    assert _states(choice)["Which way?"] == {
        "Type": "Choice",
        "Comment": "Route by kind.",
        "Choices": [
            {"Variable": "$.kind", "StringEquals": "order", "Next": "Order"},
            {"Variable": "$.count", "NumericGreaterThan": 10, "Next": "Many"},
        ],
        "Default": "Other",
    }


def test_conditions_render_the_asl_operators() -> None:
    condition = Condition.and_(
        Condition.is_present("$.trackingId"),
        Condition.or_(
            Condition.numeric_equals("$.n", 0),
            Condition.numeric_less_than("$.n", 1.5),
            Condition.numeric_greater_than_equals("$.n", 7),
        ),
        Condition.not_(Condition.boolean_equals("$.done", True)),
        Condition.is_null("$.error", null=False),
        Condition.is_present("$.skip", present=False),
    )

    assert condition.render() == {
        "And": [
            {"Variable": "$.trackingId", "IsPresent": True},
            {
                "Or": [
                    {"Variable": "$.n", "NumericEquals": 0},
                    {"Variable": "$.n", "NumericLessThan": 1.5},
                    {"Variable": "$.n", "NumericGreaterThanEquals": 7},
                ]
            },
            {"Not": {"Variable": "$.done", "BooleanEquals": True}},
            {"Variable": "$.error", "IsNull": False},
            {"Variable": "$.skip", "IsPresent": False},
        ]
    }


def test_conditions_refuse_what_asl_would_refuse() -> None:
    with pytest.raises(DefinitionError):
        Condition.string_equals("kind", "order")
    with pytest.raises(DefinitionError):
        Condition.numeric_equals("$.n", True)
    with pytest.raises(DefinitionError):
        Condition.and_()


def test_choice_without_default_and_branches_ending_chains() -> None:
    choice = Choice("Anything?").when(
        Condition.is_present("$.x"), Chain.start(Pass("Handle x")).next(Succeed("Handled"))
    )

    assert _states(choice) == {
        "Anything?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Handle x"}],
        },
        "Handle x": {"Type": "Pass", "Next": "Handled"},
        "Handled": {"Type": "Succeed"},
    }


def test_a_choice_needs_a_branch() -> None:
    with pytest.raises(DefinitionError, match="when"):
        _states(Choice("Empty"))


def test_a_choice_takes_one_default() -> None:
    choice = Choice("Twice").otherwise(Succeed("A"))

    with pytest.raises(DefinitionError, match="default"):
        choice.otherwise(Succeed("B"))


def test_wait_renders_seconds_or_a_seconds_path() -> None:
    chain = Wait("Fixed", seconds=3).next(Wait("From input", seconds_path="$.delay"))

    assert _states(chain) == {
        "Fixed": {"Type": "Wait", "Seconds": 3, "Next": "From input"},
        "From input": {"Type": "Wait", "SecondsPath": "$.delay", "End": True},
    }


@pytest.mark.parametrize(
    "kwargs", [{}, {"seconds": 1, "seconds_path": "$.s"}, {"seconds": -1}, {"seconds_path": "s"}]
)
def test_wait_takes_exactly_one_valid_duration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(DefinitionError):
        Wait("Bad wait", **kwargs)


def test_pass_renders_parameters_and_paths() -> None:
    state = Pass(
        "Reshape",
        parameters={"id.$": "$.trackingId", "fixed": 1},
        result_path="$.shaped",
        output_path="$.shaped",
    )

    assert _states(state)["Reshape"] == {
        "Type": "Pass",
        "Parameters": {"id.$": "$.trackingId", "fixed": 1},
        "ResultPath": "$.shaped",
        "OutputPath": "$.shaped",
        "End": True,
    }


def test_discard_renders_a_null_result_path() -> None:
    assert _states(Pass("Keep input", result_path=DISCARD))["Keep input"] == {
        "Type": "Pass",
        "ResultPath": None,
        "End": True,
    }


def test_map_renders_an_inline_item_processor() -> None:
    mapper = Map(
        "Handle each event",
        items_path="$.events",
        item_selector={"event.$": "$$.Map.Item.Value", "trackingId.$": "$.trackingId"},
        max_concurrency=4,
        result_path="$.handled",
    ).item_processor(Chain.start(Pass("Look at it")).next(Succeed("Looked")))

    assert _states(mapper)["Handle each event"] == {
        "Type": "Map",
        "ItemsPath": "$.events",
        "ItemSelector": {"event.$": "$$.Map.Item.Value", "trackingId.$": "$.trackingId"},
        "MaxConcurrency": 4,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Look at it",
            "States": {
                "Look at it": {"Type": "Pass", "Next": "Looked"},
                "Looked": {"Type": "Succeed"},
            },
        },
        "ResultPath": "$.handled",
        "End": True,
    }


def test_a_map_needs_an_item_processor() -> None:
    with pytest.raises(DefinitionError, match="item_processor"):
        _states(Map("No processor"))


def test_parallel_renders_each_branch() -> None:
    fan_out = Parallel("Do both", result_selector={"left.$": "$[0]", "right.$": "$[1]"}).branch(
        LambdaInvoke("Left", function="left"),
        Chain.start(Pass("Right")).next(Succeed("Right done")),
    )

    assert _states(fan_out.next(Succeed("Both done"))) == {
        "Do both": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Left",
                    "States": {
                        "Left": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {
                                "FunctionName": function_arn("left"),
                                "Payload.$": "$",
                            },
                            "TimeoutSeconds": 60,
                            "OutputPath": "$.Payload",
                            "Retry": [
                                {
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
                            ],
                            "End": True,
                        }
                    },
                },
                {
                    "StartAt": "Right",
                    "States": {
                        "Right": {"Type": "Pass", "Next": "Right done"},
                        "Right done": {"Type": "Succeed"},
                    },
                },
            ],
            "ResultSelector": {"left.$": "$[0]", "right.$": "$[1]"},
            "Next": "Both done",
        },
        "Both done": {"Type": "Succeed"},
    }


def test_a_parallel_needs_a_branch() -> None:
    with pytest.raises(DefinitionError, match="branch"):
        _states(Parallel("No branches"))


def test_fail_renders_an_error_from_an_exception_class() -> None:
    state = Fail("Reject", error=InvalidEnvelopeError, cause="The envelope is unusable.")

    assert _states(state)["Reject"] == {
        "Type": "Fail",
        "Error": "InvalidEnvelopeError",
        "Cause": "The envelope is unusable.",
    }


def test_fail_renders_error_and_cause_paths() -> None:
    state = Fail("Failed", error_path="$.error.Error", cause_path="$.error.Cause")

    assert _states(state)["Failed"] == {
        "Type": "Fail",
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }


def test_fail_takes_a_value_or_a_path_not_both() -> None:
    with pytest.raises(DefinitionError):
        Fail("Both", error="E", error_path="$.e")
    with pytest.raises(DefinitionError):
        Fail("Both", cause="C", cause_path="$.c")
