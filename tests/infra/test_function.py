"""The Function component: the Lambda's settings, its log group, role and permissions."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from infra import policies
from infra.config import read_config
from infra.stack import Deployment, deploy
from stack.app import build_app
from stack.spec import Access, App, BucketGrant
from tests.infra.fakes import SYNTHETIC_PREFIX, SYNTHETIC_SETTINGS
from tests.infra.harness import (
    ACCOUNT,
    LAMBDA,
    LAYER_ARN,
    LOG_GROUP,
    PREFIX,
    ROLE,
    ROLE_POLICY,
    Run,
    as_list,
    run_program,
    statements,
)

QUEUE_URL = f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/"
STATE_MACHINE_ARN = f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:"


def lambda_inputs(run: Run[Deployment], name: str) -> dict[str, Any]:
    return run.mocks.named(LAMBDA, name).inputs


def policy_of(run: Run[Deployment], name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        run.mocks.named(ROLE_POLICY, f"{name}-policy").inputs["policy"]
    )
    return document


def test_every_lambda_is_python_313_on_arm64_with_active_tracing(
    app: App, run: Run[Deployment]
) -> None:
    for spec in app.functions:
        inputs = lambda_inputs(run, app.physical_name(spec.name))
        assert inputs["name"] == app.physical_name(spec.name)
        assert inputs["runtime"] == "python3.13"
        assert inputs["architectures"] == ["arm64"]
        assert inputs["handler"] == spec.handler
        assert inputs["tracingConfig"] == {"mode": "Active"}
        assert inputs["layers"][0] == LAYER_ARN
        assert inputs["description"] == spec.description


def test_environment_is_the_description_plus_powertools_defaults(
    app: App, run: Run[Deployment]
) -> None:
    for spec in app.functions:
        variables = lambda_inputs(run, app.physical_name(spec.name))["environment"]["variables"]
        expected = {
            "POWERTOOLS_SERVICE_NAME": spec.name,
            "POWERTOOLS_LOG_LEVEL": app.config.log_level,
            **app.function_environment(spec),
            **{
                env_var: (QUEUE_URL if kind == "queue_url" else STATE_MACHINE_ARN)
                + app.physical_name(logical)
                for env_var, (kind, logical) in app.backend_references(spec).items()
            },
        }
        assert variables == expected


def test_the_api_queues_ingest_and_starts_enrich_by_their_queue_url_and_state_machine_arn(
    app: App, run: Run[Deployment]
) -> None:
    variables = lambda_inputs(run, app.physical_name("api"))["environment"]["variables"]
    assert variables["INTAKE"] == "queued"
    assert variables["INGEST_QUEUE_URL"] == QUEUE_URL + app.physical_name("ingest")
    assert "INGEST_STATE_MACHINE_ARN" not in variables
    assert variables["ENRICH_STATE_MACHINE_ARN"] == STATE_MACHINE_ARN + app.physical_name("enrich")
    assert variables["ENRICHMENT_STATUS_TABLE_NAME"] == app.physical_name("enrichment-status")
    assert (variables["MAX_INLINE_PRODUCTS"], variables["ENRICH_BATCH_SIZE"]) == ("1000", "20")


def test_enrich_batch_reaches_the_provider_products_and_staging(
    app: App, run: Run[Deployment]
) -> None:
    variables = lambda_inputs(run, app.physical_name("enrich_batch"))["environment"]["variables"]
    assert variables["PROVIDER_URL"] == app.config.provider_url
    assert variables["PROVIDER_URL"].startswith("https://")
    # The secret's name; its value (the API key) is read at run time, never deployed.
    assert variables["PROVIDER_SECRET_NAME"] == app.physical_name("provider")
    assert variables["PRODUCTS_TABLE_NAME"] == app.physical_name("products")
    assert variables["STAGING_BUCKET_NAME"] == app.bucket_name("staging")


def _reservations(config: dict[str, str]) -> dict[str, int]:
    """Every Lambda's reserved concurrency when the stack config is ``config``, as __main__ runs."""

    def program() -> Deployment:
        deploy_config = read_config()
        return deploy(build_app(deploy_config.stack), deploy_config.infra)

    run = run_program(program, config=config)
    return {
        lambda_.name: lambda_.inputs["reservedConcurrentExecutions"]
        for lambda_ in run.mocks.of_type(LAMBDA)
        if lambda_.inputs.get("reservedConcurrentExecutions") is not None
    }


def test_no_function_reserves_concurrency_unless_the_stack_config_asks() -> None:
    # A reservation must leave the account 100 unreserved executions: on a new account (a limit
    # of 10) any reservation fails the function, and everything that needs it.
    assert _reservations({}) == {}


def test_a_configured_reservation_goes_to_enrich_batch_only() -> None:
    reserved = _reservations({"stepflow:enrichReservedConcurrency": "20"})
    assert reserved == {f"{PREFIX}-enrich_batch": 20}


def test_secrets_reach_functions_by_name_only(app: App, run: Run[Deployment]) -> None:
    variables = lambda_inputs(run, app.physical_name("deliver"))["environment"]["variables"]
    assert variables["DOWNSTREAM_SECRET_NAME"] == app.physical_name("downstream")
    assert not [key for key in variables if "TOKEN" in key or "PASSWORD" in key]


def test_the_granted_table_reaches_the_function_by_its_physical_name(
    app: App, run: Run[Deployment]
) -> None:
    variables = lambda_inputs(run, app.physical_name("dedupe"))["environment"]["variables"]
    assert variables["DEDUPE_TABLE_NAME"] == app.physical_name("dedupe")


def test_logs_go_as_json_to_the_functions_own_log_group(app: App, run: Run[Deployment]) -> None:
    for spec in app.functions:
        name = app.physical_name(spec.name)
        log_group = run.mocks.named(LOG_GROUP, f"{name}-logs").inputs
        assert log_group == {"name": f"/aws/lambda/{name}", "retentionInDays": 30}
        assert lambda_inputs(run, name)["loggingConfig"] == {
            "logFormat": "JSON",
            "logGroup": f"/aws/lambda/{name}",
            "applicationLogLevel": "INFO",
            "systemLogLevel": "INFO",
        }


def test_lambda_log_level_follows_powertools_level(synthetic_run: Run[Deployment]) -> None:
    # WARNING in Powertools is WARN to Lambda; a mismatch would drop records before Powertools.
    inputs = lambda_inputs(synthetic_run, f"{SYNTHETIC_PREFIX}-reader")
    assert inputs["environment"]["variables"]["POWERTOOLS_LOG_LEVEL"] == "WARNING"
    assert inputs["loggingConfig"]["applicationLogLevel"] == "WARN"
    log_group = synthetic_run.mocks.named(LOG_GROUP, f"{SYNTHETIC_PREFIX}-reader-logs")
    assert log_group.inputs["retentionInDays"] == 7


def test_limits_come_from_the_spec(synthetic_run: Run[Deployment]) -> None:
    reader = lambda_inputs(synthetic_run, f"{SYNTHETIC_PREFIX}-reader")
    assert (reader["memorySize"], reader["timeout"]) == (512, 60)
    assert reader["reservedConcurrentExecutions"] == 5
    writer = lambda_inputs(synthetic_run, f"{SYNTHETIC_PREFIX}-writer")
    assert (writer["memorySize"], writer["timeout"]) == (256, 30)
    assert "reservedConcurrentExecutions" not in writer


def test_a_pinned_layer_version_names_that_layer(synthetic_run: Run[Deployment]) -> None:
    layer = (
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
    )
    # First; the project's layer (pydantic, isal) comes after it.
    assert lambda_inputs(synthetic_run, f"{SYNTHETIC_PREFIX}-reader")["layers"][0] == layer
    assert not [token for token, _ in synthetic_run.mocks.calls if "ssm" in token]


def test_the_default_layer_is_the_pinned_powertools_release(run: Run[Deployment]) -> None:
    [parameter] = [args["name"] for token, args in run.mocks.calls if token.startswith("aws:ssm")]
    assert parameter == "/aws/service/powertools/python/arm64/python3.13/3.37.0"


def test_each_function_has_its_own_role_for_lambda_only(app: App, run: Run[Deployment]) -> None:
    roles = set()
    for spec in app.functions:
        name = app.physical_name(spec.name)
        role = run.mocks.named(ROLE, f"{name}-role")
        assert json.loads(role.inputs["assumeRolePolicy"]) == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        assert lambda_inputs(run, name)["role"] == role.state["arn"]
        roles.add(role.state["arn"])
    assert len(roles) == len(app.functions)


def test_logs_are_allowed_on_the_functions_own_log_group_only(
    app: App, run: Run[Deployment]
) -> None:
    for spec in app.functions:
        name = app.physical_name(spec.name)
        log_statements = [
            statement
            for statement in statements(policy_of(run, name))
            if any(action.startswith("logs:") for action in as_list(statement["Action"]))
        ]
        assert log_statements == [
            {
                "Sid": "WriteOwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/{name}:*"],
            }
        ]


def test_xray_is_the_only_grant_on_any_resource(app: App, run: Run[Deployment]) -> None:
    for spec in app.functions:
        star = [
            statement
            for statement in statements(policy_of(run, app.physical_name(spec.name)))
            if "*" in as_list(statement["Resource"])
        ]
        assert star == [
            {
                "Sid": "WriteTraces",
                "Effect": "Allow",
                "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                "Resource": "*",
            }
        ]


def dynamodb_grants(run: Run[Deployment], function: str) -> dict[str, set[str]]:
    """Per DynamoDB resource ARN, the actions the function's policy allows on it."""
    grants: dict[str, set[str]] = {}
    for statement in statements(policy_of(run, function)):
        actions = {a for a in as_list(statement["Action"]) if a.startswith("dynamodb:")}
        for resource in as_list(statement["Resource"]) if actions else []:
            grants.setdefault(resource, set()).update(actions)
    return grants


TABLE_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/"
READ = set(policies.DYNAMODB_READ_ACTIONS)
WRITE = set(policies.DYNAMODB_WRITE_ACTIONS)


def granted_actions(access: Access) -> set[str]:
    return (READ if access in (Access.READ, Access.READ_WRITE) else set()) | (
        WRITE if access in (Access.WRITE, Access.READ_WRITE) else set()
    )


def test_access_levels_are_exactly_their_actions() -> None:
    assert {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:ConditionCheckItem",
    } == READ
    assert {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    } == WRITE


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("reader", {"items": READ, "items/index/*": READ}),
        ("writer", {"items": WRITE}),
        (
            "auditor",
            {"items": READ, "items/index/*": READ, "audit": READ | WRITE, "audit/index/*": READ},
        ),
        ("idle", {}),
    ],
)
def test_each_grant_allows_exactly_its_access_on_its_table(
    synthetic_run: Run[Deployment], function: str, expected: dict[str, set[str]]
) -> None:
    grants = dynamodb_grants(synthetic_run, f"{SYNTHETIC_PREFIX}-{function}")
    assert grants == {
        f"{TABLE_ARN}{SYNTHETIC_PREFIX}-{resource}": actions
        for resource, actions in expected.items()
    }


def test_real_functions_get_exactly_their_table_grants(app: App, run: Run[Deployment]) -> None:
    # Written out, so a grant dropped from (or added to) the description fails here.
    def rw(table: str) -> dict[str, set[str]]:
        arn = f"{TABLE_ARN}{app.physical_name(table)}"
        return {arn: READ | WRITE, f"{arn}/index/*": READ}

    def read(table: str) -> dict[str, set[str]]:
        arn = f"{TABLE_ARN}{app.physical_name(table)}"
        return {arn: READ, f"{arn}/index/*": READ}

    expected: dict[str, dict[str, set[str]]] = {
        "validate": {},
        "claim_check": {},
        # Reads a claim holder's status: a claim of an execution that never delivers is free.
        "dedupe": rw("dedupe") | read("status"),
        # Reads the batch rows back (strongly consistent query) to total an enrichment.
        "update_status": rw("status") | rw("enrichment-status"),
        "enrich_batch": rw("products"),
        "bundle": {},
        "archive": {},
        "deliver": rw("circuit"),
        # GET /users/{userId}/enrichments queries the byUser index: index/* is what allows it.
        "api": rw("status") | rw("idempotency") | rw("enrichment-status"),
        # Sets the breaker by hand, counts redrives; health reads the others.
        "operations": rw("circuit") | rw("redrives") | read("status") | read("dedupe"),
    }
    assert {spec.name for spec in app.functions} == set(expected)
    for spec in app.functions:
        assert dynamodb_grants(run, app.physical_name(spec.name)) == expected[spec.name], spec.name


def test_real_functions_get_the_table_grants_of_their_spec(app: App, run: Run[Deployment]) -> None:
    for spec in app.functions:
        expected: dict[str, set[str]] = {}
        for grant in spec.tables:
            arn = f"{TABLE_ARN}{app.physical_name(grant.table)}"
            expected.setdefault(arn, set()).update(granted_actions(grant.access))
            if READ & granted_actions(grant.access):
                expected.setdefault(f"{arn}/index/*", set()).update(READ)
        assert dynamodb_grants(run, app.physical_name(spec.name)) == expected, spec.name


def test_the_function_waits_for_its_permissions(app: App, run: Run[Deployment]) -> None:
    # Registration order under the mocks follows dependencies: policy before function.
    order = [(r.type, r.name) for r in run.mocks.resources]
    for spec in app.functions:
        name = app.physical_name(spec.name)
        assert order.index((ROLE_POLICY, f"{name}-policy")) < order.index((LAMBDA, name))


def test_a_resource_granted_twice_is_refused(synthetic: App) -> None:
    # IAM refuses two statements with one Sid; better to say which grant than to fail on AWS.
    twice = (
        BucketGrant("landing", Access.READ, "LANDING_BUCKET"),
        BucketGrant("landing", Access.READ, "OTHER_LANDING_BUCKET"),
    )
    idle = replace(synthetic.function("idle"), buckets=twice)
    app = replace(
        synthetic, functions=tuple(idle if f.name == "idle" else f for f in synthetic.functions)
    )
    with pytest.raises(ValueError, match="'idle' is granted a resource twice"):
        run_program(lambda: deploy(app, SYNTHETIC_SETTINGS))
