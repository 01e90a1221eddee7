"""The ``HttpApi`` component: an API Gateway HTTP API from an ``ApiSpec``.

Why IAM authorisation (SigV4) on the systems' routes: their callers are producer *systems*.
HTTP APIs have no API keys or usage plans (those are REST API features), and their built-in
authorisers are JWT (for people: the catalog routes trust the stack's Cognito user pool) and
Lambda authorisers (custom code on the hot path). ``AWS_IAM`` is the system-to-system
authentication API Gateway provides natively: a producer signs each request with SigV4 using
credentials of a role it already has, access is granted with ``execute-api:Invoke`` on the route
ARNs (revocable per producer, auditable in CloudTrail, no shared secret to rotate), and an
unsigned or wrongly signed request is refused by API Gateway before any Lambda runs. Each
route's authorization is the description's (``RouteSpec.authorization``): IAM unless it says
otherwise (the health check and the OpenAPI document are open); a JWT route is checked by the
API's JWT authorizer (``ApiSpec.jwt_authorizer``), created only when the description has one.

Throttling is on the ``$default`` stage (``default_route_settings``), applied to every route
before authorisation and integration, so a flood costs neither Lambda invocations nor
executions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from stack.access import route_resource_suffix
from stack.spec import ApiSpec, Authorization, RouteSpec

TYPE: Final = "stepflow:apigateway:HttpApi"
PAYLOAD_FORMAT_VERSION: Final = "2.0"
STAGE_NAME: Final = "$default"
# API Gateway's name for each authorization the description knows.
AUTHORIZATION_TYPES: Final = {
    Authorization.NONE: "NONE",
    Authorization.IAM: "AWS_IAM",
    Authorization.JWT: "JWT",
}

# One JSON object per request. Who called (the IAM principal of a signed request) and how it
# went, never a header or a body: those may carry tokens or payloads.
ACCESS_LOG_FORMAT: Final = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "caller": "$context.identity.userArn",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
}

ACCESS_LOG_GROUP_PREFIX: Final = "/aws/vendedlogs/apigateway/"


def authorization_type(route: RouteSpec) -> str:
    """API Gateway's ``authorization_type`` for the route's described authorization.

    >>> from stack.spec import HttpMethod
    >>> authorization_type(RouteSpec(HttpMethod.POST, "/events", "api"))
    'AWS_IAM'
    """
    return AUTHORIZATION_TYPES[route.authorization]


def source_arn_suffix(route: RouteSpec) -> str:
    """The part of an invocation's source ARN after the API's execution ARN, any stage.

    Example::

        >>> from stack.spec import HttpMethod
        >>> source_arn_suffix(RouteSpec(HttpMethod.GET, "/events/{trackingId}", "api"))
        '/*/GET/events/*'
    """
    return route_resource_suffix(route)


def _slug(route: RouteSpec) -> str:
    words = re.findall(r"[a-z0-9]+", route.key.lower())
    return "-".join(words)


@dataclass(frozen=True)
class HttpApiArgs:
    """``function_arns`` maps the logical name of every function a route names to its ARN;
    ``user_pool_issuer`` and ``user_pool_client_id`` are the stack's user pool, which a JWT
    authorizer naming a ``user_pool`` trusts."""

    spec: ApiSpec
    physical_name: str
    function_arns: Mapping[str, pulumi.Input[str]]
    log_retention_days: int = 30
    user_pool_issuer: pulumi.Input[str] | None = None
    user_pool_client_id: pulumi.Input[str] | None = None


def _jwt_configuration(args: HttpApiArgs) -> aws.apigatewayv2.AuthorizerJwtConfigurationArgs:
    jwt = args.spec.jwt_authorizer
    assert jwt is not None
    if jwt.user_pool is None:
        return aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
            issuer=jwt.issuer, audiences=list(jwt.audiences)
        )
    if args.user_pool_issuer is None or args.user_pool_client_id is None:
        raise ValueError(f"api {args.spec.name!r} trusts user pool {jwt.user_pool!r}: none given")
    return aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
        issuer=args.user_pool_issuer, audiences=[args.user_pool_client_id]
    )


class HttpApi(pulumi.ComponentResource):
    """An HTTP API whose routes proxy to Lambdas (payload 2.0), throttled and access-logged.

    Children: the API, one ``AWS_PROXY`` integration per function, the JWT authorizer when the
    spec has one, one route per ``RouteSpec`` (authorized as described), one
    ``lambda:InvokeFunction`` permission per route for ``apigateway.amazonaws.com`` from that
    route's ARN only, a log group, and the auto-deployed ``$default`` stage with the spec's
    throttling and JSON access logs.

    Example::

        api = HttpApi("stepflow-dev-api", HttpApiArgs(app.api, "stepflow-dev-api", arns))
        api.url  # https://<id>.execute-api.<region>.amazonaws.com/
    """

    id: pulumi.Output[str]
    url: pulumi.Output[str]
    execution_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: HttpApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        missing = {route.function for route in spec.routes} - set(args.function_arns)
        if missing:
            raise KeyError(f"api {spec.name!r}: routes name unknown functions {sorted(missing)}")

        api = aws.apigatewayv2.Api(
            resource_name,
            aws.apigatewayv2.ApiArgs(name=args.physical_name, protocol_type="HTTP"),
            opts=child,
        )
        integrations: dict[str, aws.apigatewayv2.Integration] = {}
        for function in dict.fromkeys(route.function for route in spec.routes):
            integrations[function] = aws.apigatewayv2.Integration(
                f"{resource_name}-{function}-integration",
                aws.apigatewayv2.IntegrationArgs(
                    api_id=api.id,
                    integration_type="AWS_PROXY",
                    integration_method="POST",
                    integration_uri=args.function_arns[function],
                    payload_format_version=PAYLOAD_FORMAT_VERSION,
                ),
                opts=child,
            )
        authorizer = None
        if spec.jwt_authorizer is not None:
            authorizer = aws.apigatewayv2.Authorizer(
                f"{resource_name}-jwt-authorizer",
                aws.apigatewayv2.AuthorizerArgs(
                    api_id=api.id,
                    name=f"{args.physical_name}-jwt",
                    authorizer_type=AUTHORIZATION_TYPES[Authorization.JWT],
                    identity_sources=[spec.jwt_authorizer.identity_source],
                    jwt_configuration=_jwt_configuration(args),
                ),
                opts=child,
            )
        routes = []
        for route in spec.routes:
            slug = _slug(route)
            authorizer_id = None
            if route.authorization is Authorization.JWT:
                if authorizer is None:
                    raise ValueError(f"route {route.key!r} wants a JWT; api {spec.name!r} has none")
                authorizer_id = authorizer.id
            routes.append(
                aws.apigatewayv2.Route(
                    f"{resource_name}-{slug}",
                    aws.apigatewayv2.RouteArgs(
                        api_id=api.id,
                        route_key=route.key,
                        authorization_type=authorization_type(route),
                        authorizer_id=authorizer_id,
                        authorization_scopes=list(route.scopes) or None,
                        target=pulumi.Output.concat(
                            "integrations/", integrations[route.function].id
                        ),
                    ),
                    opts=child,
                )
            )
            aws.lambda_.Permission(
                f"{resource_name}-{slug}-invoke",
                aws.lambda_.PermissionArgs(
                    action="lambda:InvokeFunction",
                    function=args.function_arns[route.function],
                    principal="apigateway.amazonaws.com",
                    source_arn=pulumi.Output.concat(api.execution_arn, source_arn_suffix(route)),
                ),
                opts=child,
            )
        log_group = aws.cloudwatch.LogGroup(
            f"{resource_name}-access-logs",
            aws.cloudwatch.LogGroupArgs(
                # Under /aws/vendedlogs/ API Gateway delivers without adding a statement per
                # log group to the account's one CloudWatch Logs resource policy (5,120
                # characters, soon full with several stacks).
                name=f"{ACCESS_LOG_GROUP_PREFIX}{args.physical_name}/access",
                retention_in_days=args.log_retention_days,
            ),
            opts=child,
        )
        stage = aws.apigatewayv2.Stage(
            f"{resource_name}-default-stage",
            aws.apigatewayv2.StageArgs(
                api_id=api.id,
                name=STAGE_NAME,
                auto_deploy=True,
                default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                    throttling_rate_limit=spec.throttle_rate_per_second,
                    throttling_burst_limit=spec.throttle_burst,
                ),
                access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                    destination_arn=log_group.arn,
                    format=json.dumps(ACCESS_LOG_FORMAT),
                ),
            ),
            # Auto-deploy publishes what exists when the stage is created: routes first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=routes),
        )
        self.id = api.id
        self.url = stage.invoke_url
        self.execution_arn = api.execution_arn
        self.log_group_name = log_group.name
        self.register_outputs(
            {
                "id": self.id,
                "url": self.url,
                "executionArn": self.execution_arn,
                "logGroupName": self.log_group_name,
            }
        )
