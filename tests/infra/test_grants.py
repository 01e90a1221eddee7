"""Grants become IAM: per function, exactly the actions of each grant on that one resource."""

from __future__ import annotations

import json

import pytest

from functions._shared import names
from infra import policies
from infra.stack import Deployment
from stack.app import build_app
from stack.spec import App, Intake, StackConfig
from tests.infra.fakes import SYNTHETIC_PREFIX, synthetic_bucket
from tests.infra.harness import (
    ACCOUNT,
    LAMBDA,
    REGION,
    ROLE_POLICY,
    SECRET,
    Run,
    as_list,
    statements,
)

SERVICES = ("s3:", "sqs:", "secretsmanager:", "states:", "kms:")
READ = {"s3:GetObject"}
WRITE = {"s3:PutObject", "s3:AbortMultipartUpload"}
LIST = {"s3:ListBucket"}
SEND = {"sqs:SendMessage"}
CONSUME = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"


def granted(run: Run[Deployment], function: str) -> dict[str, set[str]]:
    """Per resource, the S3, SQS, Secrets Manager, Step Functions and KMS actions allowed."""
    document = json.loads(run.mocks.named(ROLE_POLICY, f"{function}-policy").inputs["policy"])
    grants: dict[str, set[str]] = {}
    for statement in statements(document):
        actions = {a for a in as_list(statement["Action"]) if a.startswith(SERVICES)}
        for resource in as_list(statement["Resource"]) if actions else []:
            grants.setdefault(resource, set()).update(actions)
    return grants


def bucket(name: str, suffix: str = "") -> str:
    return f"arn:aws:s3:::{name}{suffix}"


def test_the_access_levels_are_exactly_their_actions() -> None:
    assert set(policies.S3_READ_OBJECT_ACTIONS) == READ
    assert set(policies.S3_WRITE_OBJECT_ACTIONS) == WRITE
    assert set(policies.SQS_SEND_ACTIONS) == SEND
    assert set(policies.SQS_CONSUME_ACTIONS) == CONSUME


def test_real_functions_get_exactly_their_grants(app: App, run: Run[Deployment]) -> None:
    name = app.physical_name
    expected: dict[str, dict[str, set[str]]] = {
        # Reads back the batches claim_check stored; sends back what its output has no room for;
        # keeps what it rejected in quarantine.
        "validate": {
            bucket(app.bucket_name("staging")): LIST,
            bucket(app.bucket_name("staging"), "/*"): READ,
            f"{QUEUE_ARN}{name('ingest')}": SEND,
            bucket(app.bucket_name("quarantine"), "/*"): WRITE,
        },
        # Stores the batches too big to start a workflow; never reads.
        "claim_check": {bucket(app.bucket_name("staging"), "/*"): WRITE},
        "dedupe": {},
        # The on-failure destination of its asynchronous invocations (the outcome rule's).
        "update_status": {f"{QUEUE_ARN}{name('execution-outcomes-dlq')}": SEND},
        "bundle": {
            bucket(app.bucket_name("staging")): LIST,
            bucket(app.bucket_name("staging"), "/*"): READ | WRITE,
            bucket(app.bucket_name("landing")): LIST,
            bucket(app.bucket_name("landing"), "/*"): READ,
            bucket(app.bucket_name("quarantine"), "/*"): WRITE,
        },
        "archive": {
            bucket(app.bucket_name("staging")): LIST,
            bucket(app.bucket_name("staging"), "/*"): READ,
            bucket(app.bucket_name("archive")): LIST,
            bucket(app.bucket_name("archive"), "/*"): READ | WRITE,
        },
        "deliver": {
            bucket(app.bucket_name("archive")): LIST,
            bucket(app.bucket_name("archive"), "/*"): READ,
            # The secret's own ARN, random suffix included: nothing else in Secrets Manager.
            f"{SECRET_ARN}{name('downstream')}-AbC123": {"secretsmanager:GetSecretValue"},
        },
        "enrich_batch": {
            # Reads the posted NDJSON catalog and the batch files, writes the batch files.
            bucket(app.bucket_name("staging")): LIST,
            bucket(app.bucket_name("staging"), "/*"): READ | WRITE,
            f"{SECRET_ARN}{name('provider')}-AbC123": {"secretsmanager:GetSecretValue"},
        },
        # Queued intake: ingest executions are the pipe's to start, never the api's.
        "api": {
            f"{QUEUE_ARN}{name('ingest')}": SEND,
            f"{MACHINE_ARN}{name('enrich')}": {"states:StartExecution"},
        },
        # Health reads every bucket; replay reads the archive and the downstream's secret.
        "operations": {
            bucket(app.bucket_name("archive")): LIST,
            bucket(app.bucket_name("archive"), "/*"): READ,
            bucket(app.bucket_name("landing")): LIST,
            bucket(app.bucket_name("landing"), "/*"): READ,
            bucket(app.bucket_name("staging")): LIST,
            bucket(app.bucket_name("staging"), "/*"): READ,
            f"{SECRET_ARN}{name('downstream')}-AbC123": {"secretsmanager:GetSecretValue"},
        },
    }
    assert {spec.name for spec in app.functions} == set(expected)
    for spec in app.functions:
        assert granted(run, name(spec.name)) == expected[spec.name], spec.name


def test_per_request_intake_grants_the_api_ingest_starts_instead_of_sends() -> None:
    api = build_app(StackConfig(intake=Intake.PER_REQUEST)).function("api")

    assert api.queues == ()
    assert [grant.workflow for grant in api.workflows] == ["ingest", "enrich"]
    assert api.environment[names.INTAKE_ENV] == "per-request"


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            "writer",
            {
                bucket(synthetic_bucket("archive"), "/*"): WRITE,
                f"{QUEUE_ARN}{SYNTHETIC_PREFIX}-inbox": SEND,
            },
        ),
        (
            "auditor",
            {
                bucket(synthetic_bucket("landing")): LIST,
                bucket(synthetic_bucket("landing"), "/*"): READ,
                f"{QUEUE_ARN}{SYNTHETIC_PREFIX}-inbox": CONSUME,
                f"{QUEUE_ARN}{SYNTHETIC_PREFIX}-scratch": CONSUME | SEND,
                f"{SECRET_ARN}{SYNTHETIC_PREFIX}-api-key-AbC123": {"secretsmanager:GetSecretValue"},
            },
        ),
        (
            "starter",
            {
                bucket(synthetic_bucket("archive")): LIST,
                bucket(synthetic_bucket("archive"), "/*"): READ | WRITE,
                f"{MACHINE_ARN}{SYNTHETIC_PREFIX}-pipeline": {"states:StartExecution"},
            },
        ),
        ("idle", {}),
    ],
)
def test_each_access_level_on_each_kind_of_resource(
    synthetic_run: Run[Deployment], function: str, expected: dict[str, set[str]]
) -> None:
    assert granted(synthetic_run, f"{SYNTHETIC_PREFIX}-{function}") == expected


def test_listing_is_granted_on_buckets_and_objects_actions_on_objects(
    run: Run[Deployment], synthetic_run: Run[Deployment]
) -> None:
    # s3:ListBucket applies to a bucket ARN, object actions to object ARNs: a mix-up is
    # silently useless on AWS (and parliament's RESOURCE_MISMATCH).
    for current in (run, synthetic_run):
        for policy in current.mocks.of_type(ROLE_POLICY):
            for statement in statements(json.loads(policy.inputs["policy"])):
                actions = set(as_list(statement["Action"]))
                if actions & (READ | WRITE):
                    assert all(r.endswith("/*") for r in as_list(statement["Resource"]))
                if actions & LIST:
                    assert not any("/" in r for r in as_list(statement["Resource"]))


def test_granted_resources_reach_the_function_by_url_name_or_arn(
    synthetic_run: Run[Deployment],
) -> None:
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{SYNTHETIC_PREFIX}-"
    variables = synthetic_run.mocks.named(LAMBDA, f"{SYNTHETIC_PREFIX}-auditor").inputs[
        "environment"
    ]["variables"]
    assert variables["INBOX_URL"] == f"{url}inbox"
    assert variables["SCRATCH_URL"] == f"{url}scratch"
    assert variables["API_KEY_SECRET"] == f"{SYNTHETIC_PREFIX}-api-key"
    assert variables["LANDING_BUCKET"] == synthetic_bucket("landing")
    starter = synthetic_run.mocks.named(LAMBDA, f"{SYNTHETIC_PREFIX}-starter").inputs
    assert starter["environment"]["variables"]["PIPELINE_ARN"] == (
        f"{MACHINE_ARN}{SYNTHETIC_PREFIX}-pipeline"
    )


def test_no_kms_grant_is_needed_with_aws_managed_keys(
    run: Run[Deployment], synthetic_run: Run[Deployment]
) -> None:
    # Buckets use aws/s3, secrets aws/secretsmanager: their key policies admit the account's
    # principals through those services, so a kms: grant would be dead weight.
    for current in (run, synthetic_run):
        for policy in current.mocks.of_type(ROLE_POLICY):
            assert "kms:" not in policy.inputs["policy"]


def test_the_secrets_exist_without_a_value(app: App, run: Run[Deployment]) -> None:
    secrets = {secret.inputs["name"]: secret.inputs for secret in run.mocks.of_type(SECRET)}
    assert set(secrets) == {app.physical_name("downstream"), app.physical_name("provider")}
    assert len(secrets) == len(run.mocks.of_type(SECRET)) == len(app.secrets)
    for spec in app.secrets:
        assert secrets[app.physical_name(spec.name)] == {
            "name": app.physical_name(spec.name),
            "description": spec.description,
            "recoveryWindowInDays": 30,
        }
    assert not [r for r in run.mocks.resources if "secretVersion" in r.type]


def test_each_secret_is_readable_by_its_functions_only(app: App, run: Run[Deployment]) -> None:
    readers: dict[str, set[str]] = {}
    for spec in app.functions:
        for resource in granted(run, app.physical_name(spec.name)):
            if resource.startswith(SECRET_ARN):
                readers.setdefault(resource, set()).add(spec.name)
    assert readers == {
        # The operations' replay posts as deliver does.
        f"{SECRET_ARN}{app.physical_name('downstream')}-AbC123": {"deliver", "operations"},
        f"{SECRET_ARN}{app.physical_name('provider')}-AbC123": {"enrich_batch"},
    }


def test_a_dev_stack_deletes_its_secrets_at_once(synthetic_run: Run[Deployment]) -> None:
    [secret] = synthetic_run.mocks.of_type(SECRET)
    assert secret.inputs["recoveryWindowInDays"] == 0
