"""The StateMachine component: its definition, type, logging, tracing and a role scoped to it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import InfraSettings
from infra.stack import Deployment, deploy
from infra.state_machine import DefinitionError
from stack.spec import App, WorkflowSpec
from tests.infra.fakes import SYNTHETIC_PREFIX, ChainDefinition, synthetic_app
from tests.infra.harness import (
    ACCOUNT,
    LOG_GROUP,
    ROLE,
    ROLE_POLICY,
    STATE_MACHINE,
    Run,
    as_list,
    run_program,
    statements,
)

FUNCTION_ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:"


def machine(run: Run[Deployment], name: str) -> dict[str, Any]:
    return run.mocks.named(STATE_MACHINE, name).inputs


def invocable(run: Run[Deployment], name: str) -> list[str]:
    """The resources of every lambda:InvokeFunction grant in the state machine's policy."""
    document = json.loads(run.mocks.named(ROLE_POLICY, f"{name}-policy").inputs["policy"])
    return [
        resource
        for statement in statements(document)
        if "lambda:InvokeFunction" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def expected_invocable(prefix: str, functions: list[str]) -> list[str]:
    arns = [f"{FUNCTION_ARN}{prefix}-{name}" for name in sorted(functions)]
    return [resource for arn in arns for resource in (arn, f"{arn}:*")]


def test_role_invokes_only_the_functions_the_definition_references(
    app: App, run: Run[Deployment]
) -> None:
    for workflow in app.workflows:
        assert invocable(run, app.physical_name(workflow.name)) == expected_invocable(
            app.config.prefix, sorted(workflow.definition.referenced_functions())
        )


def test_an_unreferenced_function_stays_out_of_reach(synthetic_run: Run[Deployment]) -> None:
    # The synthetic pipeline references reader and writer, not auditor or idle.
    assert invocable(synthetic_run, f"{SYNTHETIC_PREFIX}-pipeline") == expected_invocable(
        SYNTHETIC_PREFIX, ["reader", "writer"]
    )


def test_role_may_be_assumed_by_this_accounts_state_machines_only(
    app: App, run: Run[Deployment]
) -> None:
    for workflow in app.workflows:
        name = app.physical_name(workflow.name)
        role = run.mocks.named(ROLE, f"{name}-role")
        [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement == {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:*"},
            },
        }
        assert machine(run, name)["roleArn"] == role.state["arn"]


def test_definition_is_the_render_with_deployed_arns(app: App, run: Run[Deployment]) -> None:
    for workflow in app.workflows:
        deployed = json.loads(machine(run, app.physical_name(workflow.name))["definition"])
        expected = workflow.definition.render(
            lambda name: f"{FUNCTION_ARN}{app.physical_name(name)}"
        )
        assert deployed == expected


def test_type_logging_and_tracing(app: App, run: Run[Deployment]) -> None:
    for workflow in app.workflows:
        name = app.physical_name(workflow.name)
        inputs = machine(run, name)
        assert inputs["type"] == workflow.type.value == "STANDARD"
        assert inputs["tracingConfiguration"] == {"enabled": True}
        log_group = run.mocks.named(LOG_GROUP, f"{name}-logs").inputs
        assert log_group == {"name": f"/aws/vendedlogs/states/{name}", "retentionInDays": 30}
        assert inputs["loggingConfiguration"] == {
            "level": "ALL",
            "includeExecutionData": True,
            "logDestination": (
                f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/vendedlogs/states/{name}:*"
            ),
        }


def test_express_type_and_quieter_logging_come_from_spec_and_settings(
    synthetic_run: Run[Deployment],
) -> None:
    inputs = machine(synthetic_run, f"{SYNTHETIC_PREFIX}-pipeline")
    assert inputs["type"] == "EXPRESS"
    assert inputs["loggingConfiguration"]["level"] == "ERROR"
    assert inputs["loggingConfiguration"]["includeExecutionData"] is False


def test_role_policy_exists_before_the_state_machine(app: App, run: Run[Deployment]) -> None:
    # CreateStateMachine checks the role's log delivery permissions.
    order = [(r.type, r.name) for r in run.mocks.resources]
    for workflow in app.workflows:
        name = app.physical_name(workflow.name)
        assert order.index((ROLE_POLICY, f"{name}-policy")) < order.index((STATE_MACHINE, name))


def _deploy_workflow(definition: ChainDefinition) -> None:
    app = synthetic_app(WorkflowSpec("pipeline", "A broken workflow.", definition))
    run_program(lambda: deploy(app, InfraSettings(powertools_layer_version=1)))


def test_a_rendered_function_missing_from_the_references_is_refused() -> None:
    with pytest.raises(DefinitionError, match="renders function 'writer'"):
        _deploy_workflow(ChainDefinition(("reader",), undeclared=("writer",)))


def test_a_reference_to_a_function_the_stack_lacks_is_refused() -> None:
    with pytest.raises(DefinitionError, match="does not have: \\['ghost'\\]"):
        _deploy_workflow(ChainDefinition(("reader", "ghost")))
