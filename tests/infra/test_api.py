"""The HttpApi component: routes, IAM authorisation, throttling, access logs, invoke permissions."""

from __future__ import annotations

import json
from dataclasses import replace

from infra import api as api_module
from infra.stack import Deployment
from stack.spec import App, Authorization, HttpMethod, RouteSpec
from tests.infra.harness import (
    ACCOUNT,
    AUTHORIZER,
    HTTP_API,
    INTEGRATION,
    LOG_GROUP,
    PERMISSION,
    REGION,
    ROUTE,
    STAGE,
    USER_POOL,
    USER_POOL_CLIENT,
    Run,
    api_id,
)

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"


def test_an_http_api_named_as_described(app: App, run: Run[Deployment]) -> None:
    [api] = run.mocks.of_type(HTTP_API)
    assert app.api is not None
    assert api.inputs == {"name": app.physical_name(app.api.name), "protocolType": "HTTP"}


def test_one_lambda_proxy_integration_per_function(app: App, run: Run[Deployment]) -> None:
    integrations = {i.inputs["integrationUri"]: i.inputs for i in run.mocks.of_type(INTEGRATION)}
    assert set(integrations) == {
        FUNCTION_ARN + app.physical_name(function) for function in ("api", "operations")
    }
    for uri, integration in integrations.items():
        assert integration == {
            "apiId": api_id(app.physical_name("api")),
            "integrationType": "AWS_PROXY",
            "integrationMethod": "POST",
            "integrationUri": uri,
            "payloadFormatVersion": "2.0",
        }


# The real description's routes, written out: a route dropped from (or opened in) the
# description fails here even though the derived checks below would follow it.
EXPECTED_ROUTES = {
    "POST /events": "AWS_IAM",
    "POST /events/bulk": "AWS_IAM",
    "GET /events/{trackingId}": "AWS_IAM",
    "GET /health": "NONE",
    "GET /openapi.json": "NONE",
    # People's routes: the user pool's tokens.
    "POST /catalogs/{catalogId}/enrichments": "JWT",
    "GET /catalogs/{catalogId}/enrichments/{trackingId}": "JWT",
    "GET /users/{userId}/enrichments": "JWT",
    "GET /ops/queues": "AWS_IAM",
    "POST /ops/queues/{queueName}/redrive": "AWS_IAM",
    "GET /ops/queues/{queueName}/redrive": "AWS_IAM",
    "POST /ops/queues/{queueName}/redrive/cancel": "AWS_IAM",
    "GET /ops/executions": "AWS_IAM",
    "POST /ops/executions/redrive": "AWS_IAM",
    "GET /ops/breaker": "AWS_IAM",
    "POST /ops/breaker": "AWS_IAM",
    "POST /ops/replay": "AWS_IAM",
    "GET /ops/health": "AWS_IAM",
    "GET /ops/openapi.json": "NONE",
    "GET /docs": "NONE",
    "GET /docs/{asset}": "NONE",
}


def test_routes_are_iam_for_systems_jwt_for_people_and_open_for_health_and_openapi(
    app: App, run: Run[Deployment]
) -> None:
    assert app.api is not None
    integrations = {
        i.inputs["integrationUri"]: i.state["id"] for i in run.mocks.of_type(INTEGRATION)
    }
    routes = {r.inputs["routeKey"]: r.inputs for r in run.mocks.of_type(ROUTE)}
    deployed = {key: route["authorizationType"] for key, route in routes.items()}
    assert len(routes) == len(run.mocks.of_type(ROUTE)), "a route key registered twice"
    assert deployed == EXPECTED_ROUTES
    function_of = {route.key: route.function for route in app.api.routes}
    for key, route in routes.items():
        integration = integrations[FUNCTION_ARN + app.physical_name(function_of[key])]
        assert route["target"] == f"integrations/{integration}"
        assert route["apiId"] == api_id(app.physical_name("api"))


def test_every_post_route_is_signed_or_needs_a_token(app: App) -> None:
    assert app.api is not None
    posts = [route for route in app.api.routes if route.method is HttpMethod.POST]
    assert posts
    assert {api_module.authorization_type(route) for route in posts} == {"AWS_IAM", "JWT"}


def test_the_jwt_authorizer_trusts_the_stacks_user_pool_and_app_client(
    app: App, run: Run[Deployment]
) -> None:
    [authorizer] = run.mocks.of_type(AUTHORIZER)
    [pool] = run.mocks.of_type(USER_POOL)
    [client] = run.mocks.of_type(USER_POOL_CLIENT)
    region = app.config.region
    assert authorizer.inputs["jwtConfiguration"] == {
        "issuer": f"https://cognito-idp.{region}.amazonaws.com/{pool.state['id']}",
        "audiences": [client.state["id"]],
    }
    assert authorizer.inputs["identitySources"] == ["$request.header.Authorization"]
    jwt_routes = [r for r in run.mocks.of_type(ROUTE) if r.inputs["authorizationType"] == "JWT"]
    assert {r.inputs["authorizerId"] for r in jwt_routes} == {authorizer.state["id"]}


def test_the_user_pool_signs_people_in_with_a_password_and_no_client_secret(
    app: App, run: Run[Deployment]
) -> None:
    [pool] = run.mocks.of_type(USER_POOL)
    [client] = run.mocks.of_type(USER_POOL_CLIENT)
    assert pool.inputs["name"] == app.physical_name("users")
    assert pool.inputs["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}
    assert pool.inputs["passwordPolicy"]["minimumLength"] == 12
    assert client.inputs["userPoolId"] == pool.state["id"]
    assert client.inputs["explicitAuthFlows"] == [
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    ]
    assert client.inputs["generateSecret"] is False
    assert client.inputs["preventUserExistenceErrors"] == "ENABLED"


def test_the_default_stage_deploys_itself_throttled_and_logged(
    app: App, run: Run[Deployment]
) -> None:
    assert app.api is not None
    [stage] = run.mocks.of_type(STAGE)
    name = app.physical_name("api")
    log_group = run.mocks.named(LOG_GROUP, f"{name}-access-logs").inputs
    # Under /aws/vendedlogs/: no statement per log group in the account's logs resource policy.
    assert log_group == {"name": f"/aws/vendedlogs/apigateway/{name}/access", "retentionInDays": 30}
    access = stage.inputs.pop("accessLogSettings")
    assert stage.inputs == {
        "apiId": api_id(name),
        "name": "$default",
        "autoDeploy": True,
        "defaultRouteSettings": {
            "throttlingRateLimit": app.api.throttle_rate_per_second,
            "throttlingBurstLimit": app.api.throttle_burst,
        },
    }
    assert (app.api.throttle_rate_per_second, app.api.throttle_burst) == (100.0, 200)
    assert access["destinationArn"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/apigateway/{name}/access"
    )
    fields = json.loads(access["format"])
    assert fields["routeKey"] == "$context.routeKey"
    assert fields["caller"] == "$context.identity.userArn"
    # Nothing that could carry a token or a payload.
    assert not [value for value in fields.values() if "header" in value or "body" in value]


def test_api_gateway_may_invoke_the_function_from_each_route_only(
    app: App, run: Run[Deployment]
) -> None:
    execution_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id(app.physical_name('api'))}"
    # The other permissions are EventBridge's (tests/infra/test_execution_status_rule.py).
    api_permissions = [
        p for p in run.mocks.of_type(PERMISSION) if p.inputs["principal"] != "events.amazonaws.com"
    ]
    permissions = {
        p.inputs["sourceArn"].removeprefix(execution_arn): p.inputs for p in api_permissions
    }
    assert app.api is not None
    assert len(permissions) == len(api_permissions) == len(app.api.routes)
    assert set(permissions) == {
        "/*/POST/events",
        "/*/POST/events/bulk",
        "/*/GET/events/*",
        "/*/GET/health",
        "/*/GET/openapi.json",
        "/*/POST/catalogs/*/enrichments",
        "/*/GET/catalogs/*/enrichments/*",
        "/*/GET/users/*/enrichments",
        "/*/GET/ops/queues",
        "/*/POST/ops/queues/*/redrive",
        "/*/GET/ops/queues/*/redrive",
        "/*/POST/ops/queues/*/redrive/cancel",
        "/*/GET/ops/executions",
        "/*/POST/ops/executions/redrive",
        "/*/GET/ops/breaker",
        "/*/POST/ops/breaker",
        "/*/POST/ops/replay",
        "/*/GET/ops/health",
        "/*/GET/ops/openapi.json",
        "/*/GET/docs",
        "/*/GET/docs/*",
    }
    for suffix, permission in permissions.items():
        function = "operations" if "/ops/" in suffix or "/docs" in suffix else "api"
        assert permission["action"] == "lambda:InvokeFunction"
        assert permission["principal"] == "apigateway.amazonaws.com"
        assert permission["function"] == FUNCTION_ARN + app.physical_name(function)


def test_route_helpers() -> None:
    route = RouteSpec(HttpMethod.GET, "/catalogs/{catalogId}/items/{itemId}", "api")
    assert api_module.source_arn_suffix(route) == "/*/GET/catalogs/*/items/*"
    # The description's authorization, in API Gateway's words; IAM unless the route says.
    assert api_module.authorization_type(route) == "AWS_IAM"
    assert {
        authorization: api_module.authorization_type(replace(route, authorization=authorization))
        for authorization in Authorization
    } == {Authorization.NONE: "NONE", Authorization.IAM: "AWS_IAM", Authorization.JWT: "JWT"}


def test_the_stage_is_deployed_after_its_routes(run: Run[Deployment]) -> None:
    order = [r.type for r in run.mocks.resources]
    last_route = max(i for i, type_ in enumerate(order) if type_ == ROUTE)
    assert last_route < order.index(STAGE)
