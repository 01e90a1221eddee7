"""Facts the description states once and both backends read: route keys and authorization,
dead-letter queue names, the circuit breaker, Powertools' settings, and the stack outputs."""

from __future__ import annotations

import doctest
import importlib
from dataclasses import replace
from typing import Any

import pytest

from functions._shared.names import METRICS_NAMESPACE
from stack import outputs
from stack.app import build_app
from stack.spec import App, Authorization, HttpMethod, QueueSpec, RouteSpec


@pytest.mark.parametrize("module_name", ["stack.spec", "stack.outputs", "stack.checks"])
def test_docstring_examples_hold(module_name: str) -> None:
    failed, attempted = doctest.testmod(importlib.import_module(module_name))
    assert attempted > 0
    assert failed == 0


def test_route_keys_are_method_space_path() -> None:
    route = RouteSpec(HttpMethod.GET, "/catalogs/{catalogId}/items/{itemId}", "api")
    assert route.key == "GET /catalogs/{catalogId}/items/{itemId}"


def test_routes_are_iam_unless_described_open() -> None:
    app = build_app()
    assert app.api is not None
    assert RouteSpec(HttpMethod.GET, "/health", "api").authorization is Authorization.IAM
    # Written out: opening a route is a decision, not a side effect of an edit.
    assert {route.key: route.authorization for route in app.api.routes} == {
        "POST /events": Authorization.IAM,
        "POST /events/bulk": Authorization.IAM,
        "GET /events/{trackingId}": Authorization.IAM,
        "GET /health": Authorization.NONE,
        "GET /openapi.json": Authorization.NONE,
        # People's data: the token's subject owns it.
        "POST /catalogs/{catalogId}/enrichments": Authorization.JWT,
        "GET /catalogs/{catalogId}/enrichments/{trackingId}": Authorization.JWT,
        "GET /users/{userId}/enrichments": Authorization.JWT,
        "GET /ops/queues": Authorization.IAM,
        "POST /ops/queues/{queueName}/redrive": Authorization.IAM,
        "GET /ops/queues/{queueName}/redrive": Authorization.IAM,
        "POST /ops/queues/{queueName}/redrive/cancel": Authorization.IAM,
        "GET /ops/executions": Authorization.IAM,
        "POST /ops/executions/redrive": Authorization.IAM,
        "GET /ops/breaker": Authorization.IAM,
        "POST /ops/breaker": Authorization.IAM,
        "POST /ops/replay": Authorization.IAM,
        "GET /ops/health": Authorization.IAM,
        "GET /ops/openapi.json": Authorization.NONE,
        "GET /docs": Authorization.NONE,
        "GET /docs/{asset}": Authorization.NONE,
    }
    assert app.api.jwt_authorizer is not None
    assert app.user_pool is not None
    assert app.api.jwt_authorizer.user_pool == app.user_pool.name


def test_a_queue_that_redrives_has_a_dead_letter_queue_named_after_it() -> None:
    assert QueueSpec("ingest", max_receive_count=3).dead_letter_queue == "ingest-dlq"
    assert QueueSpec("scratch", max_receive_count=0).dead_letter_queue is None
    app = build_app()
    assert [app.physical_name(q.dead_letter_queue) for q in app.queues if q.dead_letter_queue] == [
        "stepflow-dev-ingest-dlq",
        "stepflow-dev-landing-notifications-dlq",
    ]


def test_the_circuit_breaker_is_the_deliver_function_and_the_circuit_table() -> None:
    app = build_app()
    assert app.circuit_breaker is not None
    assert (app.circuit_breaker.function, app.circuit_breaker.table) == ("deliver", "circuit")
    granted = {grant.table for grant in app.function(app.circuit_breaker.function).tables}
    assert app.circuit_breaker.table in granted


def test_every_function_gets_powertools_settings_from_the_description() -> None:
    app = build_app()
    for spec in app.functions:
        environment = app.function_environment(spec)
        assert environment["POWERTOOLS_SERVICE_NAME"] == spec.name
        assert environment["POWERTOOLS_LOG_LEVEL"] == app.config.log_level
        assert (
            environment["POWERTOOLS_METRICS_NAMESPACE"]
            == f"{METRICS_NAMESPACE}/{app.config.prefix}"
        )


def _resolved(app: App, **changes: Any) -> dict[str, Any]:
    """What a backend resolved for ``app``: names as physical names, URLs and ARNs made up."""

    def names(specs: Any) -> dict[str, str]:
        return {spec.name: app.physical_name(spec.name) for spec in specs}

    values: dict[str, Any] = {
        "state_machine_arns": {w.name: f"arn:sm:{w.name}" for w in app.workflows},
        "function_names": names(app.functions),
        "table_names": names(app.tables),
        "queue_urls": {q.name: f"https://q/{q.name}" for q in app.queues},
        "dead_letter_queue_urls": {
            q.name: f"https://q/{q.dead_letter_queue}" for q in app.queues if q.dead_letter_queue
        },
        "bucket_names": names(app.buckets),
        "secret_names": names(app.secrets),
        "api_url": "https://api/" if app.api is not None else None,
        "user_pool_id": "us-east-1_Pool" if app.user_pool is not None else None,
        "user_pool_client_id": "client" if app.user_pool is not None else None,
        "access_policy_arns": {
            spec.name: f"arn:policy:{spec.name}" for spec in app.access_policies
        },
    }
    return values | changes


def test_stack_outputs_hold_exactly_the_output_keys() -> None:
    app = build_app()
    found = outputs.stack_outputs(app, **_resolved(app))
    assert set(found) == outputs.output_keys(app)
    assert found[outputs.REGION] == app.config.region
    assert found[outputs.PREFIX] == app.config.prefix
    assert found[outputs.API_URL] == "https://api/"
    assert found["enrichStateMachineArn"] == "arn:sm:enrich"
    assert found[outputs.DEAD_LETTER_QUEUE_URLS]["ingest"] == "https://q/ingest-dlq"
    # In description order, whatever order the backend passed them in.
    shuffled = dict(reversed(_resolved(app)["function_names"].items()))
    reordered = outputs.stack_outputs(app, **_resolved(app, function_names=shuffled))
    assert list(reordered[outputs.FUNCTION_NAMES]) == [spec.name for spec in app.functions]


def test_stack_outputs_refuse_what_the_description_does_not_hold() -> None:
    app = build_app()
    invented = _resolved(app)["table_names"] | {"ghost": "stepflow-dev-ghost"}
    without_a_dlq = {"ingest": "https://q/ingest-dlq"}
    with pytest.raises(ValueError, match="differ from the description") as raised:
        outputs.stack_outputs(
            app,
            **_resolved(app, table_names=invented, dead_letter_queue_urls=without_a_dlq),
        )
    assert "tableNames holds" in str(raised.value)
    assert "deadLetterQueueUrls holds ['ingest']" in str(raised.value)
    with pytest.raises(ValueError, match="apiUrl is missing"):
        outputs.stack_outputs(app, **_resolved(app, api_url=None))
    no_api = replace(app, api=None)
    with pytest.raises(ValueError, match="apiUrl is not described"):
        outputs.stack_outputs(no_api, **_resolved(no_api, api_url="https://api/"))
