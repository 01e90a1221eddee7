"""The description's checks, which both backends run before creating anything: unique and valid
names, references to what the description holds, and the order of creation."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from stack.app import build_app
from stack.checks import (
    DependencyCycleError,
    DescriptionError,
    check_app,
    check_names,
    check_references,
    check_unique_names,
    creation_order,
)
from stack.spec import (
    Access,
    App,
    Authorization,
    BucketGrant,
    BucketNotificationSpec,
    BucketSpec,
    CircuitBreakerSpec,
    FunctionSpec,
    HttpMethod,
    Intake,
    JwtAuthorizerSpec,
    PipeSpec,
    QueueGrant,
    QueueSpec,
    RouteSpec,
    SecretGrant,
    SecretSpec,
    StackConfig,
    TableGrant,
    TableSpec,
    WorkflowGrant,
    WorkflowSpec,
)


@dataclass(frozen=True)
class Steps:
    """A definition that invokes ``steps`` in a row; only the references matter here."""

    steps: tuple[str, ...]

    def referenced_functions(self) -> frozenset[str]:
        return frozenset(self.steps)

    def render(self, function_arn: Callable[[str], Any]) -> dict[str, Any]:
        return {"States": {step: {"Resource": function_arn(step)} for step in self.steps}}


def _function(name: str, **grants: Any) -> FunctionSpec:
    return FunctionSpec(name, "functions.validate.handler.lambda_handler", f"The {name}.", **grants)


def small_app() -> App:
    """One of everything, every reference resolved."""
    return App(
        config=StackConfig(prefix="small"),
        functions=(
            _function(
                "reader",
                tables=(TableGrant("items", Access.READ, "ITEMS"),),
                buckets=(BucketGrant("landing", Access.READ, "LANDING"),),
                queues=(QueueGrant("inbox", Access.READ, "INBOX"),),
                secrets=(SecretGrant("key", "KEY"),),
            ),
            _function("idle"),
            _function("starter", workflows=(WorkflowGrant("pipeline", "PIPELINE"),)),
        ),
        tables=(TableSpec("items", partition_key="id"),),
        queues=(QueueSpec("inbox"), QueueSpec("scratch", max_receive_count=0)),
        buckets=(BucketSpec("landing"),),
        workflows=(WorkflowSpec("pipeline", "Read.", Steps(("reader",))),),
        secrets=(SecretSpec("key", "A key."),),
        pipes=(PipeSpec("drain", "inbox", "pipeline"),),
        notifications=(BucketNotificationSpec("landing", "scratch"),),
        circuit_breaker=CircuitBreakerSpec("reader", "items"),
    )


def test_the_real_and_the_small_descriptions_pass() -> None:
    check_app(build_app())
    check_app(small_app())


def test_names_aws_would_refuse_fail_before_anything_is_created() -> None:
    app = build_app()
    long_prefix = replace(app, config=replace(app.config, prefix="p" * 60))
    with pytest.raises(DescriptionError, match="function 'update_status'") as raised:
        check_names(long_prefix)
    assert "pipe 'aggregate'" in str(raised.value)
    # Dead-letter queues are named too: 86 characters where SQS allows 80.
    assert "queue 'landing-notifications-dlq'" in str(raised.value)
    assert "queue 'ingest-dlq'" not in str(raised.value)


@pytest.mark.parametrize("bucket", ["Archive", "raw_events", "a..b"])
def test_bucket_names_follow_s3_rules(bucket: str) -> None:
    app = replace(small_app(), buckets=(BucketSpec(bucket),), notifications=())
    with pytest.raises(DescriptionError, match=f"bucket '{re.escape(bucket)}'"):
        check_names(app)


def test_secret_names_follow_secrets_manager_rules() -> None:
    app = replace(small_app(), secrets=(SecretSpec("db password", "Spaces are refused."),))
    with pytest.raises(DescriptionError, match="secret 'db password'"):
        check_names(app)


def test_a_name_used_twice_in_one_kind_is_refused() -> None:
    app = small_app()
    twice = replace(app, functions=(*app.functions, _function("idle")))
    with pytest.raises(DescriptionError, match="2 functions named 'idle'"):
        check_unique_names(twice)
    # Different kinds may share a name, as the real stack's pipes and workflows do.
    check_unique_names(replace(app, tables=(*app.tables, TableSpec("inbox", "id"))))


def test_a_queue_named_like_a_dead_letter_queue_is_refused() -> None:
    app = small_app()
    clash = replace(app, queues=(*app.queues, QueueSpec("inbox-dlq", max_receive_count=0)))
    with pytest.raises(DescriptionError, match="2 queues named 'inbox-dlq'"):
        check_app(clash)


def test_a_route_key_used_twice_is_refused() -> None:
    app = build_app()
    assert app.api is not None
    first = app.api.routes[0]
    twice = replace(app, api=replace(app.api, routes=(*app.api.routes, replace(first))))
    with pytest.raises(DescriptionError, match=f"2 routes '{re.escape(first.key)}'"):
        check_app(twice)


def test_every_dangling_reference_is_named() -> None:
    app = small_app()
    reader = app.function("reader")
    ghost_grants = replace(
        reader,
        tables=(TableGrant("nope-table", Access.READ, "T"),),
        buckets=(BucketGrant("nope-bucket", Access.READ, "B"),),
        queues=(QueueGrant("nope-queue", Access.READ, "Q"),),
        secrets=(SecretGrant("nope-secret", "S"),),
        workflows=(WorkflowGrant("nope-workflow", "W"),),
    )
    broken = replace(
        app,
        functions=(ghost_grants, *app.functions[1:]),
        pipes=(PipeSpec("leak", "nowhere", "ghost", enrichment_function="spectre"),),
        notifications=(BucketNotificationSpec("attic", "void"),),
        workflows=(WorkflowSpec("pipeline", "Read.", Steps(("reader", "phantom"))),),
        circuit_breaker=CircuitBreakerSpec("breaker", "breaker-state"),
    )
    with pytest.raises(DescriptionError, match="references") as raised:
        check_app(broken)
    problems = str(raised.value).split(": ", 1)[1].split("; ")
    assert problems == [
        "function 'reader' names table 'nope-table'",
        "function 'reader' names bucket 'nope-bucket'",
        "function 'reader' names queue 'nope-queue'",
        "function 'reader' names secret 'nope-secret'",
        "function 'reader' names workflow 'nope-workflow'",
        "workflow 'pipeline' names function 'phantom'",
        "pipe 'leak' names queue 'nowhere'",
        "pipe 'leak' names workflow 'ghost'",
        "pipe 'leak' names function 'spectre'",
        "notification 'attic' -> 'void' names bucket 'attic'",
        "notification 'attic' -> 'void' names queue 'void'",
        "the circuit breaker names function 'breaker'",
        "the circuit breaker names table 'breaker-state'",
    ]


def test_a_route_to_an_unknown_function_is_refused() -> None:
    app = build_app()
    assert app.api is not None
    broken = replace(
        app, api=replace(app.api, routes=(RouteSpec(HttpMethod.GET, "/x", "missing"),))
    )
    with pytest.raises(DescriptionError, match="route 'GET /x' names function 'missing'"):
        check_references(broken)


def test_a_jwt_route_needs_the_apis_jwt_authorizer() -> None:
    app = build_app()
    assert app.api is not None
    jwt_route = RouteSpec(HttpMethod.GET, "/me", "api", Authorization.JWT)
    routes = (*(r for r in app.api.routes if r.authorization is not Authorization.JWT), jwt_route)
    without = replace(app, api=replace(app.api, routes=routes, jwt_authorizer=None))
    with pytest.raises(DescriptionError, match="route 'GET /me' wants a JWT, but api 'api'"):
        check_app(without)
    authorizer = JwtAuthorizerSpec("https://issuer.example.com", ("stepflow",))
    assert without.api is not None
    check_app(replace(without, api=replace(without.api, jwt_authorizer=authorizer)))


def test_a_jwt_authorizer_trusts_only_the_stacks_own_user_pool() -> None:
    app = build_app()
    assert app.api is not None
    elsewhere = JwtAuthorizerSpec(user_pool="staff")
    with pytest.raises(DescriptionError, match="user pool 'staff'"):
        check_app(replace(app, api=replace(app.api, jwt_authorizer=elsewhere)))
    with pytest.raises(DescriptionError, match="user pool 'users'"):
        check_app(replace(app, user_pool=None))


def test_a_workflow_comes_after_its_functions_and_before_the_function_starting_it() -> None:
    # Per request, the api starts ingest executions itself (queued, the pipe does).
    app = build_app(StackConfig(intake=Intake.PER_REQUEST))
    order = creation_order(app)
    assert len(order) == len(app.functions) + len(app.workflows)
    position = {node: index for index, node in enumerate(order)}
    for workflow in app.workflows:
        for function in workflow.definition.referenced_functions():
            assert position[("function", function)] < position[("workflow", workflow.name)]
    assert position[("workflow", "ingest")] < position[("function", "api")]


def test_the_order_is_the_descriptions_where_dependencies_allow() -> None:
    app = build_app()
    functions = [name for kind, name in creation_order(app) if kind == "function"]
    assert functions == [spec.name for spec in app.functions]


def test_a_cycle_is_refused_naming_it() -> None:
    # The pipeline invokes reader, and reader may start the pipeline: neither can come first.
    app = small_app()
    reader = replace(app.function("reader"), workflows=(WorkflowGrant("pipeline", "PIPELINE"),))
    cyclic = replace(app, functions=(reader, *app.functions[1:]))
    with pytest.raises(
        DependencyCycleError,
        match="function 'reader' -> workflow 'pipeline' -> function 'reader'",
    ):
        check_app(cyclic)


def test_a_longer_cycle_is_named_whole() -> None:
    def starter_of(name: str, workflow: str) -> FunctionSpec:
        return _function(name, workflows=(WorkflowGrant(workflow, f"{workflow.upper()}_ARN"),))

    app = replace(
        small_app(),
        functions=(starter_of("a", "second"), starter_of("b", "first")),
        workflows=(
            WorkflowSpec("first", "First.", Steps(("a",))),
            WorkflowSpec("second", "Second.", Steps(("b",))),
        ),
        pipes=(),
        circuit_breaker=None,
    )
    with pytest.raises(DependencyCycleError) as raised:
        creation_order(app)
    assert str(raised.value).endswith(
        "function 'a' -> workflow 'second' -> function 'b' -> workflow 'first' -> function 'a'"
    )
