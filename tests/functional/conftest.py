"""Handlers run as Lambda runs them, against DynamoDB tables and Step Functions in moto
(in-process, no sockets): the stack's tables (keys, sort keys, indexes and TTL as in
``stack/app.py``) and the ingest and enrich state machines, under test names."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions._shared import names
from stack.spec import IndexSpec, TableSpec
from tests.events import load_event

REGION = "us-east-1"
METRICS_NAMESPACE = "StepflowTest"
DEDUPE_TABLE = "stepflow-test-dedupe"
STATUS_TABLE = "stepflow-test-status"
IDEMPOTENCY_TABLE = "stepflow-test-idempotency"
DEDUPE_TTL_SECONDS = 3600
ACCOUNT_ID = "123456789012"  # moto's default account
INGEST_STATE_MACHINE_NAME = "stepflow-test-ingest"
INGEST_STATE_MACHINE_ARN = (
    f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{INGEST_STATE_MACHINE_NAME}"
)
MAX_BULK_EVENTS = 10
ENRICHMENT_STATUS_TABLE = "stepflow-test-enrichment-status"
PRODUCTS_TABLE = "stepflow-test-products"
ENRICH_STATE_MACHINE_NAME = "stepflow-test-enrich"
ENRICH_STATE_MACHINE_ARN = (
    f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{ENRICH_STATE_MACHINE_NAME}"
)
MAX_INLINE_PRODUCTS = 30
ENRICH_BATCH_SIZE = 4
STAGING_BUCKET = "stepflow-test-staging"
QUARANTINE_BUCKET = "stepflow-test-quarantine"
INGEST_QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/stepflow-test-ingest"

# The same keys and TTL attribute as the tables of stack/app.py, under test names.
TABLES = (
    TableSpec(
        name=DEDUPE_TABLE,
        partition_key=names.DEDUPE_KEY,
        ttl_attribute=names.DEDUPE_EXPIRY_ATTRIBUTE,
    ),
    TableSpec(name=STATUS_TABLE, partition_key=names.STATUS_KEY),
    TableSpec(
        name=IDEMPOTENCY_TABLE,
        partition_key=names.IDEMPOTENCY_KEY,
        ttl_attribute=names.IDEMPOTENCY_EXPIRY_ATTRIBUTE,
    ),
    TableSpec(
        name=ENRICHMENT_STATUS_TABLE,
        partition_key=names.ENRICHMENT_KEY,
        sort_key=names.ENRICHMENT_SORT_KEY,
        indexes=(
            IndexSpec(
                name=names.ENRICHMENT_USER_INDEX,
                partition_key=names.ENRICHMENT_USER_KEY,
                sort_key=names.ENRICHMENT_CREATED_KEY,
            ),
        ),
    ),
    TableSpec(
        name=PRODUCTS_TABLE,
        partition_key=names.PRODUCTS_KEY,
        sort_key=names.PRODUCTS_SORT_KEY,
    ),
)

HandlerLoader = Callable[[str], ModuleType]


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from Lambda's context object."""

    function_name: str = "stepflow-test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:stepflow-test-function"
    )
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the stack gives each function, plus fake credentials that can reach nothing real."""
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    settings = {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "stepflow-test",
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        names.DEDUPE_TABLE_ENV: DEDUPE_TABLE,
        names.DEDUPE_TTL_SECONDS_ENV: str(DEDUPE_TTL_SECONDS),
        names.STATUS_TABLE_ENV: STATUS_TABLE,
        names.IDEMPOTENCY_TABLE_ENV: IDEMPOTENCY_TABLE,
        names.INGEST_STATE_MACHINE_ENV: INGEST_STATE_MACHINE_ARN,
        # The api's tests follow one execution per request; queued intake has its own tests.
        names.INTAKE_ENV: "per-request",
        names.MAX_BULK_EVENTS_ENV: str(MAX_BULK_EVENTS),
        names.ENRICHMENT_STATUS_TABLE_ENV: ENRICHMENT_STATUS_TABLE,
        names.PRODUCTS_TABLE_ENV: PRODUCTS_TABLE,
        names.ENRICH_STATE_MACHINE_ENV: ENRICH_STATE_MACHINE_ARN,
        names.MAX_INLINE_PRODUCTS_ENV: str(MAX_INLINE_PRODUCTS),
        names.ENRICH_BATCH_SIZE_ENV: str(ENRICH_BATCH_SIZE),
        names.STAGING_BUCKET_ENV: STAGING_BUCKET,
        names.INGEST_QUEUE_URL_ENV: INGEST_QUEUE_URL,
        names.QUARANTINE_BUCKET_ENV: QUARANTINE_BUCKET,
    }
    for variable, value in settings.items():
        monkeypatch.setenv(variable, value)


@pytest.fixture
def quarantine_bucket(aws_environment: None) -> Iterator[Any]:
    """A moto S3 holding the quarantine bucket (validate and bundle keep rejected inputs
    there); the client to inspect it."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=QUARANTINE_BUCKET)
        yield client


@pytest.fixture
def dynamodb(aws_environment: None) -> Iterator[Any]:
    """A moto DynamoDB holding the stack's tables; the client to inspect them."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for table in TABLES:
            client.create_table(**create_table_request(table))
            if table.ttl_attribute:
                client.update_time_to_live(
                    TableName=table.name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
        yield client


def create_table_request(table: TableSpec) -> dict[str, Any]:
    """``CreateTable`` for ``table``: string keys, on demand, indexes projecting everything."""
    keys = [table.partition_key, table.sort_key]
    for index in table.indexes:
        keys += [index.partition_key, index.sort_key]
    request: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": _key_schema(table.partition_key, table.sort_key),
        "AttributeDefinitions": [
            {"AttributeName": key, "AttributeType": "S"} for key in dict.fromkeys(keys) if key
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition_key, index.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.indexes
        ]
    return request


def _key_schema(partition_key: str, sort_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return schema


@pytest.fixture
def stepfunctions(dynamodb: Any) -> Any:
    """The ingest and enrich state machines in moto (started executions are recorded, never
    run).

    Depends on ``dynamodb``, so both live in the same moto session with the stack's tables.
    """
    client = boto3.client("stepfunctions", region_name=REGION)
    for name in (INGEST_STATE_MACHINE_NAME, ENRICH_STATE_MACHINE_NAME):
        client.create_state_machine(
            name=name,
            definition=json.dumps(
                {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}},
            ),
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",
        )
    return client


def started_executions(
    stepfunctions: Any, state_machine_arn: str = INGEST_STATE_MACHINE_ARN
) -> list[dict[str, Any]]:
    """Every execution started on a state machine (the ingest's by default), input parsed."""
    listed = stepfunctions.list_executions(stateMachineArn=state_machine_arn)
    executions = []
    for execution in listed["executions"]:
        described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
        executions.append({**described, "input": json.loads(described["input"])})
    return executions


def http_event(
    template: str = "api_post_event.json",
    *,
    method: str | None = None,
    path: str | None = None,
    body: Any = ...,
    raw_body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    drop_headers: tuple[str, ...] = (),
) -> dict[str, Any]:
    """An API Gateway HTTP API event (payload 2.0) from ``tests/events/<template>``.

    ``body`` is encoded as JSON; ``raw_body`` is sent as is (``bytes`` go base64-encoded, as
    API Gateway sends a body it does not treat as text); ``headers`` are added or replaced.
    """
    event: dict[str, Any] = copy.deepcopy(load_event(template))
    if method is not None:
        event["requestContext"]["http"]["method"] = method
    if path is not None:
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
    if raw_body is not None:
        if isinstance(raw_body, bytes):
            event["body"] = base64.b64encode(raw_body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = raw_body
    elif body is not ...:
        event["body"] = json.dumps(body)
    for name in drop_headers:
        event["headers"].pop(name.lower(), None)
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    return event


@pytest.fixture
def load_handler(aws_environment: None) -> Iterator[HandlerLoader]:
    """Import ``functions.<name>.handler`` afresh: a cold start with this test's environment.

    Handlers create their boto3 client on first use, so a test that invokes one touching
    DynamoDB asks for the ``dynamodb`` fixture too.
    """
    loaded: list[str] = []

    def load(function_name: str) -> ModuleType:
        module_name = f"functions.{function_name}.handler"
        sys.modules.pop(module_name, None)
        loaded.append(module_name)
        return importlib.import_module(module_name)

    yield load
    for module_name in loaded:
        sys.modules.pop(module_name, None)


def emitted_metrics(captured_stdout: str) -> dict[str, float]:
    """Metric values from the CloudWatch embedded-metric-format lines Powertools printed."""
    values: dict[str, float] = {}
    for line in captured_stdout.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            assert directive["Namespace"] == METRICS_NAMESPACE
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values
