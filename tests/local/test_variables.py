"""Workflow variables (``Assign``, ``$name``) in the local interpreter, in both query languages.

Page: "Passing data between states with variables"
(https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html), unless a test
names another.
"""

from __future__ import annotations

import json
from typing import Any

from local.runtime import LocalStack
from tests.local.state_machine_runs import jsonata_definition, run_definition


def _inner(start: str, states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": start, "States": states}


def test_assign_and_output_read_the_values_from_state_entry(local_stack: LocalStack) -> None:
    # "Evaluation order": all of a state's expressions see the variables as they were when it
    # was entered; its assignments take effect as it exits (so x and y swap).
    definition = jsonata_definition(
        "Set",
        {
            "Set": {"Type": "Pass", "Assign": {"x": 1, "y": 2}, "Next": "Swap"},
            "Swap": {
                "Type": "Pass",
                "Assign": {"x": "{% $y %}", "y": "{% $x %}"},
                "Output": {"xSeenBySwap": "{% $x %}"},
                "Next": "Read",
            },
            "Read": {
                "Type": "Pass",
                "Output": {"x": "{% $x %}", "y": "{% $y %}", "in": "{% $states.input %}"},
                "End": True,
            },
        },
    )
    run = run_definition(local_stack, definition)
    assert run.status == "SUCCEEDED", run.described
    assert run.output == {"x": 2, "y": 1, "in": {"xSeenBySwap": 1}}


def test_variables_in_jsonpath_states_and_their_record_in_the_history(
    local_stack: LocalStack,
) -> None:
    # JSONPath states assign with "name.$" and read "$name" in any field that takes a path.
    definition = {
        "StartAt": "Remember",
        "States": {
            "Remember": {
                "Type": "Pass",
                "Assign": {"productName": "product1", "count.$": "$.count", "quote": 'say "hi"'},
                "Next": "Use",
            },
            "Use": {
                "Type": "Pass",
                "Parameters": {"name.$": "$productName", "count.$": "$count", "quote.$": "$quote"},
                "End": True,
            },
        },
    }
    run = run_definition(local_stack, definition, {"count": 42})
    assert run.status == "SUCCEEDED", run.described
    assert run.output == {"name": "product1", "count": 42, "quote": 'say "hi"'}
    [remember_exited] = [
        event
        for event in run.of_type("PassStateExited")
        if event["stateExitedEventDetails"]["name"] == "Remember"
    ]
    # Each assigned value is recorded as JSON text.
    assigned = remember_exited["stateExitedEventDetails"]["assignedVariables"]
    assert {name: json.loads(text) for name, text in assigned.items()} == {
        "productName": "product1",
        "count": 42,
        "quote": 'say "hi"',
    }


def test_a_map_iteration_reads_outer_variables_and_keeps_its_own(local_stack: LocalStack) -> None:
    # "Variable scope": states in a Map iteration read outer variables; what an iteration assigns
    # is not visible outside it (use Output to return data from a Map).
    iteration = _inner(
        "Scale",
        {
            "Scale": {
                "Type": "Pass",
                "Assign": {"scaled": "{% $states.input * $factor %}"},
                "Next": "Return",
            },
            "Return": {"Type": "Pass", "Output": "{% $scaled %}", "End": True},
        },
    )
    definition = jsonata_definition(
        "Init",
        {
            "Init": {"Type": "Pass", "Assign": {"factor": 10}, "Next": "Each"},
            "Each": {
                "Type": "Map",
                "Items": "{% $states.input.items %}",
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **iteration},
                "Assign": {"total": "{% $sum($states.result) %}"},
                "Next": "Total",
            },
            "Total": {"Type": "Pass", "Output": {"total": "{% $total %}"}, "Next": "Leak"},
            "Leak": {"Type": "Pass", "Output": "{% $scaled %}", "End": True},
        },
    )
    run = run_definition(local_stack, definition, {"items": [1, 2, 3]})
    total_exited = [
        event["stateExitedEventDetails"]["output"]
        for event in run.of_type("PassStateExited")
        if event["stateExitedEventDetails"]["name"] == "Total"
    ]
    assert total_exited == ['{"total":60}']
    # $scaled only ever existed inside the iterations.
    assert run.described["error"] == "States.QueryEvaluationError"
    assert "'$scaled'" in run.described["cause"]


def test_parallel_branches_read_outer_variables_and_keep_their_own(
    local_stack: LocalStack,
) -> None:
    branch = _inner(
        "Greet",
        {
            "Greet": {
                "Type": "Pass",
                "Assign": {"branchOnly": True},
                "Output": "{% 'hello ' & $who %}",
                "End": True,
            }
        },
    )
    definition = jsonata_definition(
        "Init",
        {
            "Init": {"Type": "Pass", "Assign": {"who": "María"}, "Next": "Both"},
            "Both": {"Type": "Parallel", "Branches": [branch, branch], "Next": "Check"},
            "Check": {
                "Type": "Pass",
                "Output": {
                    "results": "{% $states.input %}",
                    "leaked": "{% $exists($branchOnly) %}",
                },
                "End": True,
            },
        },
    )
    run = run_definition(local_stack, definition)
    assert run.status == "SUCCEEDED", run.described
    assert run.output == {"results": ["hello María", "hello María"], "leaked": False}


def test_assigning_an_outer_variable_inside_a_map_fails_with_states_runtime(
    local_stack: LocalStack,
) -> None:
    # An iteration cannot write a variable of the scope around it; the failure is a States.*
    # error a Catch matches, not an interpreter crash.
    definition = {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Each"},
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    **_inner("Write", {"Write": {"Type": "Pass", "Assign": {"x": 2}, "End": True}}),
                },
                "Catch": [
                    {"ErrorEquals": ["States.Runtime"], "ResultPath": "$.error", "Next": "Caught"}
                ],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    run = run_definition(local_stack, definition, {"items": [1]})
    assert run.status == "SUCCEEDED", run.described
    error = run.output["error"]
    assert error["Error"] == "States.Runtime"
    assert "Cannot bind value '2' to variable 'x' as it belongs to an outer scope" in error["Cause"]


def test_a_states_error_inside_a_map_iteration_reaches_the_map_as_itself(
    local_stack: LocalStack,
) -> None:
    # "Error names" (concepts-error-handling.html): States.QueryEvaluationError is matched by
    # name in a Catch like any other; inside a Map it used to fail the Map with another error.
    definition = jsonata_definition(
        "Each",
        {
            "Each": {
                "Type": "Map",
                "Items": "{% $states.input.items %}",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    **_inner(
                        "Bad",
                        {
                            "Bad": {
                                "Type": "Pass",
                                "Output": "{% $states.input.missing %}",
                                "End": True,
                            }
                        },
                    ),
                },
                "Catch": [
                    {
                        "ErrorEquals": ["States.QueryEvaluationError"],
                        "Output": "{% $states.errorOutput %}",
                        "Next": "Caught",
                    }
                ],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    )
    run = run_definition(local_stack, definition, {"items": [{"present": 1}]})
    assert run.status == "SUCCEEDED", run.described
    assert run.output["Error"] == "States.QueryEvaluationError"
    assert run.output["Cause"].startswith("An error occurred while executing the state 'Bad'")


def test_a_matched_choice_rule_assigns_its_own_variables(local_stack: LocalStack) -> None:
    # Choice rules carry their own Assign and Output; the state's own apply when Default is taken.
    definition = jsonata_definition(
        "Size",
        {
            "Size": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Condition": "{% $states.input.n > 3 %}",
                        "Assign": {"size": "big"},
                        "Output": {"n": "{% $states.input.n %}"},
                        "Next": "Report",
                    }
                ],
                "Default": "Report",
                "Assign": {"size": "small"},
            },
            "Report": {
                "Type": "Pass",
                "Output": {"size": "{% $size %}", "in": "{% $states.input %}"},
                "End": True,
            },
        },
    )
    big = run_definition(local_stack, definition, {"n": 5, "extra": True})
    small = run_definition(local_stack, definition, {"n": 1})
    assert big.output == {"size": "big", "in": {"n": 5}}
    assert small.output == {"size": "small", "in": {"n": 1}}


def test_a_jsonpath_state_reading_an_unset_variable_fails_with_states_runtime(
    local_stack: LocalStack,
) -> None:
    definition = {
        "StartAt": "Read",
        "States": {"Read": {"Type": "Pass", "Parameters": {"x.$": "$neverAssigned"}, "End": True}},
    }
    run = run_definition(local_stack, definition)
    assert run.described["error"] == "States.Runtime"
    assert "'$neverAssigned'" in run.described["cause"]
    assert "'x.$'" in run.described["cause"]
    assert not run.of_type("EvaluationFailed")


def test_a_distributed_map_child_workflow_reads_no_outer_variable(local_stack: LocalStack) -> None:
    # "Variable scope": a Distributed Map's child workflow cannot reference outer variables;
    # an inline Map's iterations can.
    def each(mode: str) -> dict[str, Any]:
        processor = {"Mode": mode} | (
            {"ExecutionType": "STANDARD"} if mode == "DISTRIBUTED" else {}
        )
        return {
            "Type": "Map",
            "Items": "{% [1, 2] %}",
            "ItemProcessor": {
                "ProcessorConfig": processor,
                **_inner(
                    "See", {"See": {"Type": "Pass", "Output": "{% $exists($outer) %}", "End": True}}
                ),
            },
            "End": True,
        }

    for mode, sees in (("INLINE", True), ("DISTRIBUTED", False)):
        definition = jsonata_definition(
            "Init",
            {"Init": {"Type": "Pass", "Assign": {"outer": 1}, "Next": "Each"}, "Each": each(mode)},
        )
        run = run_definition(local_stack, definition)
        assert run.status == "SUCCEEDED", run.described
        assert run.output == [sees, sees], mode
