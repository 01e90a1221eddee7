"""Every rendered definition passes cfn-lint's Step Functions checks (rule E3601 and the rest).

cfn-lint validates ``Definition`` against the ASL schema when it is an object inside an
``AWS::StepFunctions::StateMachine``, so each workflow is wrapped in a minimal template.
It checks shape, not the graph: a ``Next`` naming a missing state or a Wait without a duration
passes it, which is why the builder checks those itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file

from stack.spec import WorkflowSpec
from tests.workflows.support import WORKFLOWS, function_arn

_ASL_RULE = "E3601"


def _template(definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/workflow",
                    "Definition": definition,
                },
            }
        },
    }


def lint(definition: dict[str, Any], tmp_path: Path) -> list[tuple[str, str]]:
    """(rule id, message) of every cfn-lint match for ``definition``."""
    path = tmp_path / "template.json"
    path.write_text(json.dumps(_template(definition)), encoding="utf-8")
    return [(str(match.rule.id), str(match.message)) for match in lint_file(path)]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda workflow: workflow.name)
def test_workflow_passes_cfn_lint(workflow: WorkflowSpec, tmp_path: Path) -> None:
    matches = lint(workflow.definition.render(function_arn), tmp_path)

    assert matches == []


@pytest.mark.parametrize(
    ("broken_state", "expected"),
    [
        ({"Type": "Task", "End": True}, "'Resource' is a required property"),
        ({"Type": "Pass", "Nextt": "Elsewhere", "End": True}, "'Nextt' was unexpected"),
        ({"Type": "Pass", "Next": "Elsewhere", "End": True}, "Only one of ['Next', 'End']"),
        ({"Type": "Tsk", "End": True}, "'Tsk' is not one of"),
    ],
    ids=["task-without-resource", "misspelt-next", "next-and-end", "unknown-type"],
)
def test_the_check_catches_an_invalid_definition(
    broken_state: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    matches = lint({"StartAt": "Broken", "States": {"Broken": broken_state}}, tmp_path)

    asl_messages = [message for rule, message in matches if rule == _ASL_RULE]
    assert any(expected in message for message in asl_messages), matches
