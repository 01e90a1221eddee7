"""What ``CreateStateMachine`` refuses, in AWS's words.

Page: https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html
(``InvalidDefinition``: "The provided Amazon States Language definition is not valid"); the
message reads ``Invalid State Machine Definition: '<CODE>: <detail> at <where>'``.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from local.runtime import LocalStack
from tests.local.state_machine_runs import ROLE_ARN


def _refusal(stack: LocalStack, definition: str) -> str:
    with pytest.raises(ClientError) as refused:
        stack.client("stepfunctions").create_state_machine(
            name="refused", definition=definition, roleArn=ROLE_ARN
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    return str(error["Message"])


def test_a_state_without_next_or_end_is_refused(local_stack: LocalStack) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass"}}}
    message = _refusal(local_stack, json.dumps(definition))
    assert message == (
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: State 'P' must have "
        "exactly one of the fields Next and End at /States/P'"
    )


def test_an_unknown_state_type_is_a_schema_failure(local_stack: LocalStack) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Bogus", "End": True}}}
    message = _refusal(local_stack, json.dumps(definition))
    assert message.startswith("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: ")
    assert "Bogus" in message
    assert "ASLParserException" not in message


def test_a_missing_target_is_named(local_stack: LocalStack) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Nowhere"}}}
    message = _refusal(local_stack, json.dumps(definition))
    assert message.startswith("Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: ")
    assert "'Nowhere'" in message


def test_an_illegal_escape_is_refused(local_stack: LocalStack) -> None:
    # \q is no JSON escape (RFC 8259, section 7); moto's parser used to accept it.
    definition = (
        '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "a\\qb", "End": true}}}'
    )
    message = _refusal(local_stack, definition)
    assert message.startswith("Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: ")


def test_a_jsonata_expression_that_does_not_parse_is_refused(local_stack: LocalStack) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": {"total": "{% $sum([1, 2] %}"}, "End": True}},
    }
    message = _refusal(local_stack, json.dumps(definition))
    assert message.startswith("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: ")
    assert "'$sum([1, 2]'" in message
    assert "state 'P', field 'Output/total'" in message
