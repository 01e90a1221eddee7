"""JSONata in the local interpreter, checked against the Step Functions developer guide.

Page: "Transforming data with JSONata in Step Functions"
(https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html), unless a test
names another.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from local import moto_patches
from local.runtime import REPO_ROOT, LocalStack, function_arn
from tests.local.state_machine_runs import jsonata_definition, run_definition


def _jsonata(states: dict[str, Any], start: str) -> dict[str, Any]:
    return jsonata_definition(start, states)


def test_the_guides_jsonpath_to_jsonata_conversion_gives_the_same_result(
    local_stack: LocalStack,
) -> None:
    # The page's conversion sample: input {"title": "Doctor"}, variable customerName "María";
    # "Both state machines will produce the following JSON result".
    expected = {
        "static": "Hello",
        "title": "Doctor",
        "name": "María",
        "not-evaluated": "$customerName",
    }
    assign = {"Type": "Pass", "Assign": {"customerName": "María"}, "Next": "Task"}
    jsonpath = {
        "StartAt": "Assign",
        "States": {
            "Assign": assign,
            "Task": {
                "Type": "Pass",
                "Parameters": {
                    "static": "Hello",
                    "title.$": "$.title",
                    "name.$": "$customerName",
                    "not-evaluated": "$customerName",
                },
                "End": True,
            },
        },
    }
    jsonata = _jsonata(
        {
            "Assign": assign,
            "Task": {
                "Type": "Pass",
                "Output": {
                    "static": "Hello",
                    "title": "{% $states.input.title %}",
                    "name": "{% $customerName %}",
                    "not-evaluated": "$customerName",
                },
                "End": True,
            },
        },
        "Assign",
    )
    for definition in (jsonpath, jsonata):
        run = run_definition(local_stack, definition, {"title": "Doctor"})
        assert run.status == "SUCCEEDED", run.described
        assert run.output == expected


def test_step_functions_own_jsonata_functions(local_stack: LocalStack) -> None:
    # "JSONata functions provided by Step Functions": $partition, $range, $hash, $random (with
    # an optional seed), $uuid, $parse.
    outputs = {
        "partition": "{% $partition([1,2,3,4], 2) %}",
        "range": "{% $range(0, 10, 2) %}",
        "hash": "{% $hash($states.input.content, 'SHA-256') %}",
        "seeded": "{% [$random(7), $random(7)] %}",
        "random": "{% $random() %}",
        "uuid": "{% $uuid() %}",
        "parsed": "{% $parse($states.input.json) %}",
    }
    definition = _jsonata({"Fn": {"Type": "Pass", "Output": outputs, "End": True}}, "Fn")
    run = run_definition(local_stack, definition, {"content": "input data", "json": '{"a": [1]}'})
    assert run.status == "SUCCEEDED", run.described
    result = run.output
    assert result["partition"] == [[1, 2], [3, 4]]
    assert result["range"] == [0, 2, 4, 6, 8, 10]
    assert result["hash"] == hashlib.sha256(b"input data").hexdigest()
    first, second = result["seeded"]
    assert first == second
    assert 0 <= first < 1
    assert 0 <= result["random"] < 1
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", result["uuid"]
    )
    assert result["parsed"] == {"a": [1]}


def test_states_input_result_and_context_in_a_jsonata_state(local_stack: LocalStack) -> None:
    # "Reserved variable: $states": input, result (of a Task, Parallel or Map), context.
    definition = _jsonata(
        {
            "Both": {
                "Type": "Parallel",
                "Arguments": {"n": "{% $states.input.n %}"},
                "Branches": [
                    {
                        "StartAt": "Double",
                        "States": {
                            "Double": {
                                "Type": "Pass",
                                "Output": "{% $states.input.n * 2 %}",
                                "End": True,
                            }
                        },
                    },
                    {
                        "StartAt": "Square",
                        "States": {
                            "Square": {
                                "Type": "Pass",
                                "Output": "{% $states.input.n * $states.input.n %}",
                                "End": True,
                            }
                        },
                    },
                ],
                "Output": {
                    "results": "{% $states.result %}",
                    "input": "{% $states.input %}",
                    "state": "{% $states.context.State.Name %}",
                },
                "End": True,
            }
        },
        "Both",
    )
    run = run_definition(local_stack, definition, {"n": 3})
    assert run.status == "SUCCEEDED", run.described
    assert run.output == {"results": [6, 9], "input": {"n": 3}, "state": "Both"}


def test_query_language_can_be_set_per_state(local_stack: LocalStack) -> None:
    # A JSONPath machine with one JSONata state ("QueryLanguage" per state).
    definition = {
        "StartAt": "Path",
        "States": {
            "Path": {
                "Type": "Pass",
                "Parameters": {"total.$": "States.MathAdd($.a, $.b)"},
                "Next": "Nata",
            },
            "Nata": {
                "Type": "Pass",
                "QueryLanguage": "JSONata",
                "Output": "{% $states.input.total & ' items' %}",
                "End": True,
            },
        },
    }
    run = run_definition(local_stack, definition, {"a": 2, "b": 3})
    assert run.status == "SUCCEEDED", run.described
    assert run.output == "5 items"


def test_an_escaped_quote_in_a_definition_string_is_a_quote(local_stack: LocalStack) -> None:
    definition = _jsonata(
        {
            "Quote": {
                "Type": "Pass",
                "Assign": {"said": 'she said "hi"'},
                "Output": {"joined": '{% "<" & $states.input.word & ">" %}'},
                "Next": "Read",
            },
            "Read": {
                "Type": "Pass",
                "Output": {"said": "{% $said %}", "joined": "{% $states.input.joined %}"},
                "End": True,
            },
        },
        "Quote",
    )
    run = run_definition(local_stack, definition, {"word": "ok"})
    assert run.status == "SUCCEEDED", run.described
    assert run.output == {"said": 'she said "hi"', "joined": "<ok>"}


def test_an_undefined_result_fails_with_query_evaluation_error_naming_the_field(
    local_stack: LocalStack,
) -> None:
    # The cause names the field as AWS records it, for example (an AWS-recorded execution):
    # "The JSONata expression '$states.input.pushLocation' specified for the field
    # 'Arguments/Input/pushLocation' returned nothing (undefined)."
    definition = _jsonata(
        {
            "Shape": {
                "Type": "Pass",
                "Output": {"a": [1, {"b": "{% $states.input.absent %}"}]},
                "End": True,
            }
        },
        "Shape",
    )
    run = run_definition(local_stack, definition, {"present": 1})
    assert run.status == "FAILED"
    assert run.described["error"] == "States.QueryEvaluationError"
    expected_cause = (
        "An error occurred while executing the state 'Shape' (entered at the event id #2). "
        "The JSONata expression '$states.input.absent' specified for the field 'Output/a[1]/b' "
        "returned nothing (undefined)."
    )
    assert run.described["cause"] == expected_cause
    [evaluation_failed] = run.of_type("EvaluationFailed")
    details = evaluation_failed["evaluationFailedEventDetails"]
    assert details["error"] == "States.QueryEvaluationError"
    assert details["state"] == "Shape"
    assert details["cause"] == expected_cause
    assert [event["type"] for event in run.events][-2:] == ["EvaluationFailed", "ExecutionFailed"]


def test_a_throwing_expression_can_be_caught_and_read_through_error_output(
    local_stack: LocalStack,
) -> None:
    # "$states.errorOutput" is available in a Catch's Output and Assign.
    definition = _jsonata(
        {
            "Add": {
                "Type": "Pass",
                "Output": "{% $states.input.n + 'one' %}",
                "End": True,
            }
        },
        "Add",
    )
    failed = run_definition(local_stack, definition, {"n": 1})
    assert failed.described["error"] == "States.QueryEvaluationError"
    assert "threw an error during evaluation" in failed.described["cause"]

    caught = _jsonata(
        {
            "Guard": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "Add", "States": definition["States"]}],
                "Catch": [
                    {
                        "ErrorEquals": ["States.QueryEvaluationError"],
                        "Output": {"error": "{% $states.errorOutput.Error %}"},
                        "Next": "Handled",
                    }
                ],
                "End": True,
            },
            "Handled": {"Type": "Succeed"},
        },
        "Guard",
    )
    run = run_definition(local_stack, caught, {"n": 1})
    assert run.status == "SUCCEEDED", run.described
    assert run.output == {"error": "States.QueryEvaluationError"}


def test_eval_is_refused_and_functions_are_not_json(local_stack: LocalStack) -> None:
    # "$eval is not available — use $parse"; an expression must give a JSON value.
    for expression in ("$eval('1 + 1')", "function($v) { $v }"):
        definition = _jsonata(
            {"E": {"Type": "Pass", "Output": f"{{% {expression} %}}", "End": True}}, "E"
        )
        run = run_definition(local_stack, definition)
        assert run.described["error"] == "States.QueryEvaluationError", expression
        assert run.of_type("EvaluationFailed"), expression


def test_the_readme_example_gives_what_the_readme_shows(local_stack: LocalStack) -> None:
    examples = REPO_ROOT / "examples"
    definition = json.loads((examples / "jsonata-order.asl.json").read_text(encoding="utf-8"))
    order = json.loads((examples / "order.json").read_text(encoding="utf-8"))
    run = run_definition(local_stack, definition, order)
    assert run.status == "SUCCEEDED", run.described
    output = run.output
    assert {key: output[key] for key in ("customer", "lines", "total")} == {
        "customer": "María",
        "lines": 2,
        "total": 94.5,  # 2 x 40 + 25 = 105, at least 100: 10% off
    }


def test_a_task_takes_arguments_and_shapes_its_result_in_jsonata(local_stack: LocalStack) -> None:
    # "Arguments" replaces Parameters, and Output/Assign read the task's result from
    # $states.result (here the Lambda integration's answer: Payload, StatusCode, ...).
    definition = jsonata_definition(
        "Call",
        {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {
                    "FunctionName": function_arn(local_stack.app, "echo"),
                    "Payload": {"greeting": "{% 'hello ' & $states.input.name %}"},
                },
                "Assign": {"status": "{% $states.result.StatusCode %}"},
                "Output": "{% $states.result.Payload %}",
                "Next": "Done",
            },
            "Done": {
                "Type": "Pass",
                "Output": {"echoed": "{% $states.input.greeting %}", "status": "{% $status %}"},
                "End": True,
            },
        },
    )
    run = run_definition(local_stack, definition, {"name": "María"})
    assert run.status == "SUCCEEDED", run.described
    assert run.output == {"echoed": "hello María", "status": 200}


def test_the_moto_guard_names_a_moved_jsonata_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.asl.component.common.string import string_expression

    monkeypatch.delattr(string_expression, "StringJSONata")
    with pytest.raises(RuntimeError, match="StringJSONata"):
        moto_patches.verify_moto_compatible()
