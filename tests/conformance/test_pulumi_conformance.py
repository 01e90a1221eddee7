"""The Pulumi program creates exactly what the description holds, and runs its workflows as written.

The local runtime's side of the same guarantee compares its own registrations with the same
description and :func:`tests.conformance.canonical.canonical_definition`.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from infra.stack import Deployment
from stack.identity import user_pool_issuer
from stack.spec import App, Authorization, WorkflowSpec
from tests.conformance.canonical import canonical_definition, canonicalize, function_ref
from tests.infra.harness import (
    ACCOUNT,
    AUTHORIZER,
    BUCKET,
    BUCKET_NOTIFICATION,
    EVENT_RULE,
    EVENT_TARGET,
    HTTP_API,
    LAMBDA,
    PIPE,
    QUEUE,
    REGION,
    ROUTE,
    SECRET,
    STATE_MACHINE,
    TABLE,
    USER_POOL,
    USER_POOL_CLIENT,
    Run,
)


def physical_names(run: Run[Deployment], type_: str, key: str = "name") -> Counter[str]:
    return Counter(resource.inputs[key] for resource in run.mocks.of_type(type_))


def test_the_description_holds_what_the_stack_is_known_to_hold(app: App) -> None:
    # Written out once, so the one-to-one checks below cannot pass on a description that lost
    # (or never gained) a resource: they would follow it.
    assert app.api is not None
    assert {
        "functions": {spec.name for spec in app.functions},
        "tables": {spec.name for spec in app.tables},
        "queues": {spec.name for spec in app.queues},
        "buckets": {spec.name for spec in app.buckets},
        "secrets": {spec.name for spec in app.secrets},
        "workflows": {spec.name for spec in app.workflows},
        "pipes": {spec.name for spec in app.pipes},
        "routes": {route.key for route in app.api.routes},
    } == {
        "functions": {
            "validate",
            "claim_check",
            "dedupe",
            "update_status",
            "enrich_batch",
            "bundle",
            "archive",
            "deliver",
            "api",
            "operations",
        },
        "tables": {
            "dedupe",
            "status",
            "circuit",
            "enrichment-status",
            "products",
            "redrives",
            "idempotency",
        },
        "queues": {"ingest", "landing-notifications", "execution-outcomes-dlq"},
        "buckets": {"landing", "staging", "archive", "quarantine"},
        "secrets": {"downstream", "provider"},
        "workflows": {"ingest", "aggregate", "enrich", "redrive-parked"},
        "pipes": {"ingest", "aggregate"},
        "routes": {
            "POST /events",
            "POST /events/bulk",
            "GET /events/{trackingId}",
            "GET /health",
            "GET /openapi.json",
            "POST /catalogs/{catalogId}/enrichments",
            "GET /catalogs/{catalogId}/enrichments/{trackingId}",
            "GET /users/{userId}/enrichments",
            "GET /ops/queues",
            "POST /ops/queues/{queueName}/redrive",
            "GET /ops/queues/{queueName}/redrive",
            "POST /ops/queues/{queueName}/redrive/cancel",
            "GET /ops/executions",
            "POST /ops/executions/redrive",
            "GET /ops/breaker",
            "POST /ops/breaker",
            "POST /ops/replay",
            "GET /ops/health",
            "GET /ops/openapi.json",
            "GET /docs",
            "GET /docs/{asset}",
        },
    }


def test_lambdas_are_the_description_one_to_one(app: App, run: Run[Deployment]) -> None:
    expected = Counter(app.physical_name(spec.name) for spec in app.functions)
    assert physical_names(run, LAMBDA) == expected


def test_state_machines_are_the_description_one_to_one(app: App, run: Run[Deployment]) -> None:
    expected = Counter(app.physical_name(spec.name) for spec in app.workflows)
    assert physical_names(run, STATE_MACHINE) == expected


def test_tables_are_the_description_one_to_one(app: App, run: Run[Deployment]) -> None:
    expected = Counter(app.physical_name(spec.name) for spec in app.tables)
    assert physical_names(run, TABLE) == expected


def test_tables_are_keyed_and_indexed_as_described(app: App, run: Run[Deployment]) -> None:
    # What the local runtime creates from the same specs: keys, and every index projecting ALL.
    deployed = {
        resource.inputs["name"]: (
            resource.inputs["hashKey"],
            resource.inputs.get("rangeKey"),
            [
                (
                    index["name"],
                    index["projectionType"],
                    [(key["attributeName"], key["keyType"]) for key in index["keySchemas"]],
                )
                for index in resource.inputs.get("globalSecondaryIndexes", [])
            ],
        )
        for resource in run.mocks.of_type(TABLE)
    }
    expected = {
        app.physical_name(spec.name): (
            spec.partition_key,
            spec.sort_key,
            [
                (
                    index.name,
                    "ALL",
                    [(index.partition_key, "HASH")]
                    + ([(index.sort_key, "RANGE")] if index.sort_key else []),
                )
                for index in spec.indexes
            ],
        )
        for spec in app.tables
    }
    assert [spec.indexes for spec in app.tables if spec.indexes]
    assert deployed == expected


def test_queues_and_buckets_are_the_description_one_to_one(app: App, run: Run[Deployment]) -> None:
    queues = Counter(app.physical_name(spec.name) for spec in app.queues)
    queues.update(
        app.physical_name(spec.dead_letter_queue) for spec in app.queues if spec.dead_letter_queue
    )
    assert physical_names(run, QUEUE) == queues
    buckets = Counter(app.bucket_name(spec.name) for spec in app.buckets)
    assert physical_names(run, BUCKET, key="bucket") == buckets


def test_execution_status_rules_are_the_description_one_to_one(
    app: App, run: Run[Deployment]
) -> None:
    assert app.execution_status_rules
    machines = _arns(run, STATE_MACHINE)
    arn_of = {name: arn for arn, name in machines.items()}
    deployed = {rule.inputs["name"]: rule for rule in run.mocks.of_type(EVENT_RULE)}
    targets = {target.inputs["rule"]: target.inputs for target in run.mocks.of_type(EVENT_TARGET)}
    assert set(deployed) == set(targets)
    expected = {}
    for spec in app.execution_status_rules:
        pattern = spec.pattern(lambda workflow: arn_of[app.physical_name(workflow)])
        target = targets[app.physical_name(spec.name)]
        expected[app.physical_name(spec.name)] = (
            pattern,
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{app.physical_name(spec.target_function)}",
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:{app.physical_name(spec.dead_letter_queue)}",
        )
        assert target["retryPolicy"] == {
            "maximumRetryAttempts": spec.maximum_retry_attempts,
            "maximumEventAgeInSeconds": spec.maximum_event_age_seconds,
        }
    assert {
        name: (
            json.loads(rule.inputs["eventPattern"]),
            targets[name]["arn"],
            targets[name]["deadLetterConfig"]["arn"],
        )
        for name, rule in deployed.items()
    } == expected


def test_secrets_are_the_description_one_to_one(app: App, run: Run[Deployment]) -> None:
    expected = Counter(app.physical_name(spec.name) for spec in app.secrets)
    assert expected
    assert physical_names(run, SECRET) == expected


def _arns(run: Run[Deployment], type_: str) -> dict[str, str]:
    return {r.state["arn"]: r.inputs["name"] for r in run.mocks.of_type(type_)}


def test_pipes_are_the_description_one_to_one(app: App, run: Run[Deployment]) -> None:
    # Name, source queue, target workflow, batching and enrichment, read back through the ARNs
    # AWS assigned.
    queues, machines = _arns(run, QUEUE), _arns(run, STATE_MACHINE)
    functions = _arns(run, LAMBDA)
    deployed = Counter(
        (
            pipe.inputs["name"],
            queues[pipe.inputs["source"]],
            machines[pipe.inputs["target"]],
            pipe.inputs["sourceParameters"]["sqsQueueParameters"]["batchSize"],
            pipe.inputs["sourceParameters"]["sqsQueueParameters"]["maximumBatchingWindowInSeconds"],
            functions.get(pipe.inputs.get("enrichment", "")),
        )
        for pipe in run.mocks.of_type(PIPE)
    )
    expected = Counter(
        (
            app.physical_name(spec.name),
            app.physical_name(spec.source_queue),
            app.physical_name(spec.target_workflow),
            spec.batch_size,
            spec.batching_window_seconds,
            app.physical_name(spec.enrichment_function) if spec.enrichment_function else None,
        )
        for spec in app.pipes
    )
    assert expected
    assert deployed == expected


def test_routes_are_the_description_one_to_one(app: App, run: Run[Deployment]) -> None:
    assert app.api is not None
    [api] = run.mocks.of_type(HTTP_API)
    assert api.inputs["name"] == app.physical_name(app.api.name)
    deployed = Counter(route.inputs["routeKey"] for route in run.mocks.of_type(ROUTE))
    expected = Counter(route.key for route in app.api.routes)
    assert deployed == expected


# API Gateway's words for each authorization, written out here rather than read from infra/.
_AUTHORIZATION_TYPES = {
    Authorization.NONE: "NONE",
    Authorization.IAM: "AWS_IAM",
    Authorization.JWT: "JWT",
}


def _deployed_authorization(run: Run[Deployment]) -> dict[str, tuple[str, Any]]:
    """Route key -> (authorization type, the JWT configuration of its authorizer or None)."""
    authorizers = {a.state["id"]: a.inputs for a in run.mocks.of_type(AUTHORIZER)}
    found: dict[str, tuple[str, Any]] = {}
    for route in run.mocks.of_type(ROUTE):
        authorizer = route.inputs.get("authorizerId")
        jwt = None
        if authorizer is not None:
            inputs = authorizers[authorizer]
            assert inputs["authorizerType"] == "JWT"
            jwt = (
                inputs["identitySources"],
                inputs["jwtConfiguration"]["issuer"],
                inputs["jwtConfiguration"]["audiences"],
            )
        found[route.inputs["routeKey"]] = (route.inputs["authorizationType"], jwt)
    return found


def _described_authorization(app: App, run: Run[Deployment]) -> dict[str, tuple[str, Any]]:
    """What the description says, the stack's user pool resolved to the pool Pulumi created."""
    assert app.api is not None
    authorizer = app.api.jwt_authorizer
    jwt = None
    if authorizer is not None and authorizer.user_pool is not None:
        [pool] = run.mocks.of_type(USER_POOL)
        [client] = run.mocks.of_type(USER_POOL_CLIENT)
        issuer = user_pool_issuer(app.config.region, pool.state["id"])
        jwt = ([authorizer.identity_source], issuer, [client.state["id"]])
    elif authorizer is not None:
        jwt = ([authorizer.identity_source], authorizer.issuer, list(authorizer.audiences))
    return {
        route.key: (
            _AUTHORIZATION_TYPES[route.authorization],
            jwt if route.authorization is Authorization.JWT else None,
        )
        for route in app.api.routes
    }


@pytest.mark.parametrize("described", ["app", "jwt_app"])
def test_every_route_is_authorized_as_described(
    described: str, request: pytest.FixtureRequest
) -> None:
    app: App = request.getfixturevalue(described)
    run: Run[Deployment] = request.getfixturevalue(described.replace("app", "run"))
    expected = _described_authorization(app, run)
    # Guards against a comparison that follows the description wherever it goes: the real one
    # opens some routes, signs some and wants tokens on the rest; the other trusts an outside
    # issuer.
    assert {kind for kind, _ in expected.values()} == {"NONE", "AWS_IAM", "JWT"}
    assert _deployed_authorization(run) == expected
    assert len(run.mocks.of_type(AUTHORIZER)) == (
        app.api is not None and bool(app.api.jwt_authorizer)
    )


def test_the_jwt_description_has_a_jwt_route(jwt_app: App) -> None:
    assert jwt_app.api is not None
    jwt_routes = [r.key for r in jwt_app.api.routes if r.authorization is Authorization.JWT]
    assert "GET /me/enrichments" in jwt_routes
    assert jwt_app.api.jwt_authorizer is not None
    assert jwt_app.api.jwt_authorizer.user_pool is None


def test_bucket_notifications_are_the_description_one_to_one(
    app: App, run: Run[Deployment]
) -> None:
    queues = _arns(run, QUEUE)
    deployed = Counter(
        (notification.inputs["bucket"], queues[target["queueArn"]], target.get("filterPrefix", ""))
        for notification in run.mocks.of_type(BUCKET_NOTIFICATION)
        for target in notification.inputs["queues"]
    )
    expected = Counter(
        (app.bucket_name(spec.bucket), app.physical_name(spec.queue), spec.prefix)
        for spec in app.notifications
    )
    assert expected
    assert deployed == expected


def test_every_lambda_runs_as_described(app: App, run: Run[Deployment]) -> None:
    # What the local runtime honours too: handler, limits and the environment.
    for spec in app.functions:
        [lambda_] = [
            resource.inputs
            for resource in run.mocks.of_type(LAMBDA)
            if resource.inputs["name"] == app.physical_name(spec.name)
        ]
        assert lambda_["handler"] == spec.handler
        assert lambda_["memorySize"] == spec.memory_mb
        assert lambda_["timeout"] == spec.timeout_seconds
        assert lambda_.get("reservedConcurrentExecutions") == spec.reserved_concurrency
        described = app.function_environment(spec)
        deployed = lambda_["environment"]["variables"]
        assert {key: deployed.get(key) for key in described} == described
        # What the backend fills in: the URL of the very queue, the ARN of the very machine.
        for env_var, (kind, logical) in app.backend_references(spec).items():
            type_, attribute = (QUEUE, "url") if kind == "queue_url" else (STATE_MACHINE, "arn")
            [target] = [
                r.state[attribute]
                for r in run.mocks.of_type(type_)
                if r.inputs["name"] == app.physical_name(logical)
            ]
            assert deployed[env_var] == target, (spec.name, env_var)


def _names_by_arn(app: App, run: Run[Deployment]) -> dict[str, str]:
    # From the ARNs AWS (the mocks) assigned to each Lambda, not from the program's wiring.
    logical = {app.physical_name(spec.name): spec.name for spec in app.functions}
    return {
        resource.state["arn"]: logical[resource.inputs["name"]]
        for resource in run.mocks.of_type(LAMBDA)
    }


def _deployed_definition(app: App, run: Run[Deployment], workflow: WorkflowSpec) -> Any:
    [machine] = [
        resource.inputs
        for resource in run.mocks.of_type(STATE_MACHINE)
        if resource.inputs["name"] == app.physical_name(workflow.name)
    ]
    return json.loads(machine["definition"])


def test_each_state_machine_runs_its_workflow_as_rendered(app: App, run: Run[Deployment]) -> None:
    names_by_arn = _names_by_arn(app, run)
    assert [workflow.name for workflow in app.workflows] == [
        "ingest",
        "aggregate",
        "enrich",
        "redrive-parked",
    ]
    for workflow in app.workflows:
        deployed = canonicalize(_deployed_definition(app, run, workflow), names_by_arn)
        assert deployed == canonical_definition(workflow), workflow.name


def test_every_referenced_function_appears_in_the_deployed_definition(
    app: App, run: Run[Deployment]
) -> None:
    # Guards the comparison above against a canonical form that lost its function references.
    for workflow in app.workflows:
        text = json.dumps(
            canonicalize(_deployed_definition(app, run, workflow), _names_by_arn(app, run))
        )
        for name in workflow.definition.referenced_functions():
            assert function_ref(name) in text


def test_canonicalize_prefers_the_longest_arn() -> None:
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:p-dedupe"
    definition = {"A": {"FunctionName": arn}, "B": [f"{arn}_v2:$LATEST"], "C": 3}
    names = {arn: "dedupe", f"{arn}_v2": "dedupe_v2"}
    assert canonicalize(definition, names) == {
        "A": {"FunctionName": "<function dedupe>"},
        "B": ["<function dedupe_v2>:$LATEST"],
        "C": 3,
    }
