"""Checks before anything is created: names, references, and the order of creation."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from infra.checks import DependencyCycleError, check_names, check_references, creation_order
from stack.spec import (
    App,
    BucketSpec,
    FunctionSpec,
    HttpMethod,
    PipeSpec,
    RouteSpec,
    SecretSpec,
    WorkflowGrant,
    WorkflowSpec,
)
from tests.infra.fakes import ChainDefinition
from tests.infra.harness import default_app


def test_names_aws_would_refuse_fail_before_anything_is_created() -> None:
    app = default_app()
    long_prefix = replace(app, config=replace(app.config, prefix="p" * 60))
    with pytest.raises(ValueError, match="function 'update_status'") as raised:
        check_names(long_prefix)
    assert "pipe 'aggregate'" in str(raised.value)
    check_names(app)


@pytest.mark.parametrize("bucket", ["Archive", "raw_events", "a..b"])
def test_bucket_names_follow_s3_rules(synthetic: App, bucket: str) -> None:
    app = replace(synthetic, buckets=(BucketSpec(bucket),))
    with pytest.raises(ValueError, match=f"bucket '{re.escape(bucket)}'"):
        check_names(app)


def test_secret_names_follow_secrets_manager_rules(synthetic: App) -> None:
    app = replace(synthetic, secrets=(SecretSpec("db password", "Spaces are refused."),))
    with pytest.raises(ValueError, match="secret 'db password'"):
        check_names(app)


def test_every_reference_must_name_something_described(synthetic: App) -> None:
    ghost_grant = replace(
        synthetic.function("idle"), workflows=(WorkflowGrant("ghost", "GHOST_ARN"),)
    )
    app = replace(
        synthetic,
        functions=(*synthetic.functions[:-2], ghost_grant, synthetic.functions[-1]),
        pipes=(PipeSpec("leak", "nowhere", "pipeline"),),
    )
    with pytest.raises(ValueError, match="references") as raised:
        check_references(app)
    message = str(raised.value)
    assert "function 'idle' names workflow 'ghost'" in message
    assert "pipe 'leak' names queue 'nowhere'" in message
    check_references(synthetic)


def test_a_route_to_an_unknown_function_is_refused(app: App) -> None:
    assert app.api is not None
    broken = replace(
        app, api=replace(app.api, routes=(RouteSpec(HttpMethod.GET, "/x", "missing"),))
    )
    with pytest.raises(ValueError, match="route 'GET /x' names function 'missing'"):
        check_references(broken)


def test_a_workflow_comes_after_its_functions_and_before_the_function_starting_it(
    app: App,
) -> None:
    order = creation_order(app)
    assert len(order) == len(app.functions) + len(app.workflows)
    position = {node: index for index, node in enumerate(order)}
    for workflow in app.workflows:
        for function in workflow.definition.referenced_functions():
            assert position[("function", function)] < position[("workflow", workflow.name)]
    assert position[("workflow", "ingest")] < position[("function", "api")]


def test_the_order_is_the_descriptions_where_dependencies_allow(app: App) -> None:
    functions = [name for kind, name in creation_order(app) if kind == "function"]
    assert functions == [spec.name for spec in app.functions]


def test_a_cycle_is_refused_naming_it(synthetic: App) -> None:
    # The pipeline invokes reader, and reader may start the pipeline: neither can come first.
    reader = replace(
        synthetic.function("reader"), workflows=(WorkflowGrant("pipeline", "PIPELINE_ARN"),)
    )
    app = replace(synthetic, functions=(reader, *synthetic.functions[1:]))
    with pytest.raises(
        DependencyCycleError,
        match="function 'reader' -> workflow 'pipeline' -> function 'reader'",
    ):
        creation_order(app)


def test_a_longer_cycle_is_named_whole(synthetic: App) -> None:
    def starter_of(name: str, workflow: str) -> FunctionSpec:
        return replace(
            synthetic.function("idle"),
            name=name,
            workflows=(WorkflowGrant(workflow, f"{workflow.upper()}_ARN"),),
        )

    app = replace(
        synthetic,
        functions=(starter_of("a", "second"), starter_of("b", "first")),
        workflows=(
            WorkflowSpec("first", "First.", ChainDefinition(("a",))),
            WorkflowSpec("second", "Second.", ChainDefinition(("b",))),
        ),
        pipes=(),
    )
    with pytest.raises(DependencyCycleError) as raised:
        creation_order(app)
    assert str(raised.value).endswith(
        "function 'a' -> workflow 'second' -> function 'b' -> workflow 'first' -> function 'a'"
    )
