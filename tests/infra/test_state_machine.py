"""The StateMachine component: its definition, type, logging, tracing and a role scoped to it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra.config import InfraSettings
from infra.stack import Deployment, deploy
from infra.state_machine import DefinitionError, ungranted_states
from stack.checks import DescriptionError
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


def test_each_workflow_invokes_exactly_its_functions(app: App, run: Run[Deployment]) -> None:
    # Written out, so a function dropped from (or added to) a definition fails here.
    pipeline = ["archive", "bundle", "dedupe", "deliver", "update_status", "validate"]
    expected = {
        "ingest": pipeline,
        "aggregate": pipeline,
        # Plan from S3 and enrich each batch; record the plan, each batch and the catalog.
        "enrich": ["enrich_batch", "update_status"],
        # The breaker closed: the operations Lambda redrives parked executions.
        "redrive-parked": ["operations"],
    }
    assert {workflow.name for workflow in app.workflows} == set(expected)
    for workflow, functions in expected.items():
        assert invocable(run, app.physical_name(workflow)) == expected_invocable(
            app.config.prefix, functions
        ), workflow


def test_state_machine_roles_invoke_log_and_trace_only(app: App, run: Run[Deployment]) -> None:
    # Nothing for the enrich workflow's Map either: INLINE iterations run inside the execution.
    for workflow in app.workflows:
        name = app.physical_name(workflow.name)
        document = json.loads(run.mocks.named(ROLE_POLICY, f"{name}-policy").inputs["policy"])
        assert [
            (statement["Sid"], sorted({a.split(":")[0] for a in as_list(statement["Action"])}))
            for statement in statements(document)
        ] == [
            ("InvokeReferencedFunctions", ["lambda"]),
            ("DeliverExecutionLogs", ["logs"]),
            ("WriteTraces", ["xray"]),
        ], workflow.name


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        if state["Type"] == "Map":
            yield from _states(state["ItemProcessor"]["States"])
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])


def test_the_deployed_maps_are_inline_and_need_no_iam_of_their_own(
    app: App, run: Run[Deployment]
) -> None:
    maps = {}
    for workflow in app.workflows:
        deployed = json.loads(machine(run, app.physical_name(workflow.name))["definition"])
        assert ungranted_states(deployed) == [], workflow.name
        for name, state in _states(deployed["States"]):
            if state["Type"] == "Map":
                maps[(workflow.name, name)] = state
            if state["Type"] == "Task":
                assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
    assert list(maps) == [("enrich", "Enrich each batch")]
    each_batch = maps[("enrich", "Enrich each batch")]
    assert each_batch["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert not {"ItemReader", "ResultWriter"} & set(each_batch)
    # The provider's 10 concurrent callers, per enrichment; enrich_batch reserves nothing unless
    # the stack config asks (a new account cannot spare a reservation).
    assert each_batch["MaxConcurrency"] == app.config.enrich_concurrency == 10
    assert app.function("enrich_batch").reserved_concurrency is None


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
            # Payloads stay out of CloudWatch unless a stack turns execution data on.
            "level": "ERROR",
            "includeExecutionData": False,
            "logDestination": (
                f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/vendedlogs/states/{name}:*"
            ),
        }


def test_express_type_and_full_logging_with_data_come_from_spec_and_settings(
    synthetic_run: Run[Deployment],
) -> None:
    inputs = machine(synthetic_run, f"{SYNTHETIC_PREFIX}-pipeline")
    assert inputs["type"] == "EXPRESS"
    assert inputs["loggingConfiguration"]["level"] == "ALL"
    assert inputs["loggingConfiguration"]["includeExecutionData"] is True


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
    # By the description's checks, before the StateMachine's own guard would see it.
    with pytest.raises(DescriptionError, match="workflow 'pipeline' names function 'ghost'"):
        _deploy_workflow(ChainDefinition(("reader", "ghost")))


@dataclass(frozen=True)
class FixedDefinition:
    """A definition that renders ``states`` around one Lambda task on ``reader``."""

    states: dict[str, Any]

    def referenced_functions(self) -> frozenset[str]:
        return frozenset({"reader"})

    def render(self, function_arn: Callable[[str], Any]) -> dict[str, Any]:
        read = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function_arn("reader"), "Payload.$": "$"},
            "Next": next(iter(self.states)),
        }
        return {"StartAt": "Read", "States": {"Read": read, **self.states}}


def _deploy_states(states: dict[str, Any]) -> None:
    definition = FixedDefinition(states)
    app = synthetic_app(WorkflowSpec("pipeline", "Needs more than its role grants.", definition))
    run_program(lambda: deploy(app, InfraSettings(powertools_layer_version=1)))


def _map(mode: str, **fields: Any) -> dict[str, Any]:
    config = {"Mode": mode} | ({"ExecutionType": "STANDARD"} if mode == "DISTRIBUTED" else {})
    return {
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": config,
            "StartAt": "Each",
            "States": {"Each": {"Type": "Pass", "End": True}},
        },
        **fields,
        "End": True,
    }


def test_a_distributed_map_is_refused() -> None:
    # It would start child executions and read S3: the role allows neither.
    with pytest.raises(DefinitionError, match="'Fan out' is a DISTRIBUTED Map"):
        _deploy_states({"Fan out": _map("DISTRIBUTED")})


def test_a_map_reading_s3_is_refused() -> None:
    reader = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b"}}
    with pytest.raises(DefinitionError, match="'Fan out' has an ItemReader"):
        _deploy_states({"Fan out": _map("INLINE", ItemReader=reader)})


def test_a_task_calling_another_service_is_refused_even_nested() -> None:
    put = {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": True}
    branch = {"StartAt": "Put", "States": {"Put": put}}
    with pytest.raises(DefinitionError, match="'Put' calls arn:aws:states:::dynamodb:putItem"):
        _deploy_states({"Both": {"Type": "Parallel", "Branches": [branch], "End": True}})


def test_an_inline_map_of_lambda_tasks_is_allowed() -> None:
    invoke = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    inline = _map("INLINE")
    inline["ItemProcessor"]["States"] = {"Each": invoke}
    assert ungranted_states({"States": {"Fan out": inline}}) == []
    # A Map without ProcessorConfig (or the older Iterator) is INLINE too.
    iterator = {"Type": "Map", "Iterator": {"StartAt": "Each", "States": {"Each": invoke}}}
    assert ungranted_states({"States": {"Fan out": iterator}}) == []
    waits = {**invoke, "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken"}
    assert ungranted_states({"States": {"Wait": waits}}) == []
