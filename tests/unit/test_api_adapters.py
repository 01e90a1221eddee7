"""The API's AWS adapters, in moto: status items identical to update_status's, every AWS failure
a 503's error, and Powertools Idempotency answering 409/422 as the API documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError
from moto import mock_aws

from functions._shared import names
from functions._shared.dynamodb import from_item
from functions._shared.errors import TransientDependencyError
from functions._shared.models import format_utc
from functions._shared.status import public_record
from functions.api import adapters
from functions.api.adapters import (
    EnrichmentTable,
    IdempotencyGate,
    StatusTable,
    StepFunctionsStarter,
    unavailable_on_aws_errors,
)
from functions.api.enrichments import EnrichmentSubmission
from functions.api.errors import ApiError, DependencyUnavailableError
from functions.update_status.adapters import DynamoDbEnrichmentStore, DynamoDbStatusStore
from functions.update_status.core import StatusUpdate, plan_write
from functions.update_status.enrichment import EnrichmentUpdate, record_enrichment

REGION = "us-east-1"
STATUS_TABLE = "status"
IDEMPOTENCY_TABLE = "idempotency"
NOW = datetime(2024, 3, 2, 9, 15, 0, 250_000, tzinfo=UTC)
AT = format_utc(NOW)


class FakeContext:
    function_name = "api"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    aws_request_id = "request-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for table, key in (
            (STATUS_TABLE, names.STATUS_KEY),
            (IDEMPOTENCY_TABLE, names.IDEMPOTENCY_KEY),
        ):
            client.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield client


def stored(dynamodb: Any, tracking_id: str) -> dict[str, Any]:
    item = dynamodb.get_item(TableName=STATUS_TABLE, Key={"trackingId": {"S": tracking_id}})
    return from_item(item["Item"])


def update_status_writes(dynamodb: Any, **update: Any) -> None:
    store = DynamoDbStatusStore(STATUS_TABLE, dynamodb)
    store.write(plan_write(StatusUpdate.model_validate(update), NOW))


# --- The status items are update_status's ------------------------------------------------------


def test_received_is_the_item_update_status_would_write(dynamodb: Any) -> None:
    StatusTable(STATUS_TABLE, dynamodb).record_received("trk-api", 3, AT)
    update_status_writes(
        dynamodb,
        trackingId="trk-reference",
        source="api",
        status="RECEIVED",
        counts={"received": 3},
    )

    ours = stored(dynamodb, "trk-api")
    reference = stored(dynamodb, "trk-reference")

    assert {**ours, "trackingId": "x"} == {**reference, "trackingId": "x"}


def test_the_workflow_moves_the_record_on_from_received(dynamodb: Any) -> None:
    StatusTable(STATUS_TABLE, dynamodb).record_received("trk-1", 2, AT)

    update_status_writes(
        dynamodb,
        trackingId="trk-1",
        source="api",
        counts={"received": 2, "valid": 2, "rejected": 0, "fresh": 2, "duplicates": 0},
    )

    record = stored(dynamodb, "trk-1")
    assert record["status"] == "ACCEPTED"
    assert [step["status"] for step in record["history"]] == ["RECEIVED", "ACCEPTED"]
    assert record["createdAt"] == AT


def test_a_start_failure_moves_received_to_failed_as_update_status_would(dynamodb: Any) -> None:
    table = StatusTable(STATUS_TABLE, dynamodb)
    for tracking_id in ("trk-api", "trk-reference"):
        table.record_received(tracking_id, 1, AT)

    table.record_start_failure("trk-api", "could not start", AT)
    update_status_writes(
        dynamodb,
        trackingId="trk-reference",
        source="api",
        status="FAILED",
        reason="could not start",
        counts={"received": 1},
    )

    ours, reference = stored(dynamodb, "trk-api"), stored(dynamodb, "trk-reference")
    assert {**ours, "trackingId": "x"} == {**reference, "trackingId": "x"}


def test_a_start_failure_never_moves_a_record_backwards(dynamodb: Any) -> None:
    update_status_writes(dynamodb, trackingId="trk-1", status="DELIVERED")

    StatusTable(STATUS_TABLE, dynamodb).record_start_failure("trk-1", "late", AT)
    StatusTable(STATUS_TABLE, dynamodb).record_received("trk-1", 1, AT)

    assert stored(dynamodb, "trk-1")["status"] == "DELIVERED"


def test_reads_answer_the_record_as_update_status_does(dynamodb: Any) -> None:
    update_status_writes(
        dynamodb,
        trackingId="trk-1",
        status="PARKED",
        reason="circuit open",
        counts={"received": 2},
        rejected=[{"index": 1, "eventId": None, "errors": [{"field": "$", "reason": "x"}]}],
        duplicates=["e-1"],
    )
    item = stored(dynamodb, "trk-1")

    record = StatusTable(STATUS_TABLE, dynamodb).read("trk-1")

    assert record == public_record(item)
    assert record is not None
    assert list(record) == list(public_record(item))
    assert "statusRank" not in record


def test_an_unknown_tracking_id_reads_as_none(dynamodb: Any) -> None:
    assert StatusTable(STATUS_TABLE, dynamodb).read("trk-none") is None


def test_public_record_keeps_extra_keys_after_the_known_ones() -> None:
    item = {"archiveKey": "k", "statusRank": 90, "status": "DELIVERED", "trackingId": "t"}

    assert list(public_record(item)) == ["trackingId", "status", "archiveKey"]


# --- AWS failures are 503s ---------------------------------------------------------------------


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "StartExecution")


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (client_error("ThrottlingException"), "ThrottlingException"),
        (client_error("StateMachineDoesNotExist"), "StateMachineDoesNotExist"),
        (EndpointConnectionError(endpoint_url="https://states"), "EndpointConnectionError"),
        (TransientDependencyError("status table: ThrottlingException"), "ThrottlingException"),
    ],
)
def test_aws_failures_become_dependency_unavailable(error: Exception, shown: str) -> None:
    with (
        pytest.raises(DependencyUnavailableError, match=shown),
        unavailable_on_aws_errors("start"),
    ):
        raise error


@pytest.mark.parametrize(
    "error",
    [ParamValidationError(report="bad parameter"), ValueError("a bug"), KeyError("a bug")],
    ids=["param-validation", "value-error", "key-error"],
)
def test_bugs_are_not_disguised_as_outages(error: Exception) -> None:
    with pytest.raises(type(error)), unavailable_on_aws_errors("start"):
        raise error


class FailingStepFunctions:
    def start_execution(self, **_: Any) -> None:
        raise client_error("ExecutionLimitExceeded")


def test_a_refused_start_is_dependency_unavailable() -> None:
    starter = StepFunctionsStarter(
        "arn:aws:states:us-east-1:1:stateMachine:x", FailingStepFunctions()
    )

    with pytest.raises(DependencyUnavailableError, match="ExecutionLimitExceeded"):
        starter.start("trk-1", "{}")


# --- Idempotency -------------------------------------------------------------------------------


@pytest.fixture
def gate(dynamodb: Any) -> IdempotencyGate:
    gate = IdempotencyGate(IDEMPOTENCY_TABLE, dynamodb)
    gate.register_lambda_context(FakeContext())
    return gate


def test_the_first_request_runs_and_a_retry_replays_its_result(gate: IdempotencyGate) -> None:
    runs: list[int] = []

    def operation() -> dict[str, str]:
        runs.append(1)
        return {"trackingId": f"trk-{len(runs)}"}

    first = gate.run("POST /events#k", {"a": 1}, operation)
    retry = gate.run("POST /events#k", {"a": 1}, operation)

    assert first == ({"trackingId": "trk-1"}, False)
    assert retry == ({"trackingId": "trk-1"}, True)
    assert len(runs) == 1


def test_records_live_under_the_stacks_key_and_expiry_attributes(
    gate: IdempotencyGate, dynamodb: Any
) -> None:
    gate.run("POST /events#k", {"a": 1}, lambda: {"trackingId": "trk-1"})

    (item,) = dynamodb.scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    assert item[names.IDEMPOTENCY_KEY]["S"].startswith(f"{adapters.IDEMPOTENCY_KEY_PREFIX}#")
    assert names.IDEMPOTENCY_EXPIRY_ATTRIBUTE in item
    assert json.loads(item["data"]["S"]) == {"trackingId": "trk-1"}


def test_the_same_key_with_another_body_is_a_422(gate: IdempotencyGate) -> None:
    gate.run("POST /events#k", {"a": 1}, lambda: {"trackingId": "trk-1"})

    with pytest.raises(ApiError) as caught:
        gate.run("POST /events#k", {"a": 2}, lambda: {"trackingId": "trk-2"})

    assert caught.value.status == 422
    assert "'k' was already used with a different body" in caught.value.message


def test_a_key_in_use_by_a_running_request_is_a_409(gate: IdempotencyGate) -> None:
    def operation() -> dict[str, str]:
        # The same request arrives again while the first is still running.
        return gate.run("POST /events#k", {"a": 1}, lambda: {"trackingId": "inner"})[0]

    with pytest.raises(ApiError) as caught:
        gate.run("POST /events#k", {"a": 1}, operation)

    assert caught.value.status == 409
    assert caught.value.headers == {"Retry-After": "1"}


def test_a_failed_operation_leaves_no_record_so_a_retry_runs_again(gate: IdempotencyGate) -> None:
    def failing() -> dict[str, str]:
        raise DependencyUnavailableError("start failed")

    with pytest.raises(DependencyUnavailableError):
        gate.run("POST /events#k", {"a": 1}, failing)

    assert gate.run("POST /events#k", {"a": 1}, lambda: {"trackingId": "t"}) == (
        {"trackingId": "t"},
        False,
    )


def test_an_unavailable_idempotency_table_is_dependency_unavailable(dynamodb: Any) -> None:
    gate = IdempotencyGate("no-such-table", dynamodb)
    gate.register_lambda_context(FakeContext())

    with pytest.raises(DependencyUnavailableError, match="idempotency table"):
        gate.run("POST /events#k", {}, lambda: {"trackingId": "t"})


# --- The enrichment summary row is update_status's ---------------------------------------------

ENRICHMENT_TABLE = "enrichment-status"
ENRICH_ID = "enr-0123456789abcdef0123456789abcdef"


@pytest.fixture
def enrichment_dynamodb(dynamodb: Any) -> Any:
    dynamodb.create_table(
        TableName=ENRICHMENT_TABLE,
        KeySchema=[
            {"AttributeName": names.ENRICHMENT_KEY, "KeyType": "HASH"},
            {"AttributeName": names.ENRICHMENT_SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in (
                names.ENRICHMENT_KEY,
                names.ENRICHMENT_SORT_KEY,
                names.ENRICHMENT_USER_KEY,
                names.ENRICHMENT_CREATED_KEY,
            )
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": names.ENRICHMENT_USER_INDEX,
                "KeySchema": [
                    {"AttributeName": names.ENRICHMENT_USER_KEY, "KeyType": "HASH"},
                    {"AttributeName": names.ENRICHMENT_CREATED_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def submission(
    tracking_id: str = ENRICH_ID, user_id: str = "u-1", catalog_id: str = "cat-1"
) -> EnrichmentSubmission:
    return EnrichmentSubmission(
        tracking_id=tracking_id,
        catalog_id=catalog_id,
        user_id=user_id,
        batch_size=2,
        total_products=3,
        total_batches=2,
        pointer=None,
        execution_input="{}",
    )


def workflow_writes(dynamodb: Any, **update: Any) -> dict[str, Any]:
    store = DynamoDbEnrichmentStore(ENRICHMENT_TABLE, dynamodb)
    payload = {"catalogId": "cat-1", "trackingId": ENRICH_ID, **update}
    return record_enrichment(EnrichmentUpdate.model_validate(payload), store, NOW).record


def summary_item(dynamodb: Any, tracking_id: str = ENRICH_ID) -> dict[str, Any]:
    key = {"catalogId": {"S": "cat-1"}, "batchId": {"S": f"{tracking_id}#CATALOG"}}
    return from_item(dynamodb.get_item(TableName=ENRICHMENT_TABLE, Key=key)["Item"])


def test_received_is_a_summary_row_the_workflow_moves_forward(enrichment_dynamodb: Any) -> None:
    table = EnrichmentTable(ENRICHMENT_TABLE, enrichment_dynamodb)
    table.record_received(submission(), AT)
    received = summary_item(enrichment_dynamodb)

    workflow_writes(enrichment_dynamodb, status="PLANNED", totalProducts=3, totalBatches=2)
    for index, done in ((0, 2), (1, 1)):
        workflow_writes(
            enrichment_dynamodb,
            status="ENRICHED",
            batchId=f"{ENRICH_ID}#batch-{index:05d}",
            enriched=done,
            failed=0,
        )
    final = workflow_writes(enrichment_dynamodb, status="COMPLETE")

    assert received == {
        "catalogId": "cat-1",
        "batchId": f"{ENRICH_ID}#CATALOG",
        "trackingId": ENRICH_ID,
        "userId": "u-1",
        "status": "RECEIVED",
        "statusRank": 10,
        "batchSize": 2,
        "totalProducts": 3,
        "totalBatches": 2,
        "createdAt": AT,
        "updatedAt": AT,
        "history": [{"status": "RECEIVED", "at": AT}],
    }
    assert final["status"] == "COMPLETE"
    assert (final["userId"], final["createdAt"], final["batchSize"]) == ("u-1", AT, 2)
    assert [step["status"] for step in final["history"]] == ["RECEIVED", "PLANNED", "COMPLETE"]
    assert table.read_summary("cat-1", ENRICH_ID) == final


def test_a_start_failure_is_the_failed_row_update_status_would_write(
    enrichment_dynamodb: Any,
) -> None:
    table = EnrichmentTable(ENRICHMENT_TABLE, enrichment_dynamodb)
    reference_id = "enr-ffffffffffffffffffffffffffffffff"
    for tracking_id in (ENRICH_ID, reference_id):
        table.record_received(submission(tracking_id), AT)

    table.record_start_failure("cat-1", ENRICH_ID, "could not start", AT)
    workflow_writes(
        enrichment_dynamodb, trackingId=reference_id, status="FAILED", reason="could not start"
    )

    ours, reference = (
        summary_item(enrichment_dynamodb),
        summary_item(enrichment_dynamodb, reference_id),
    )
    shared = ("status", "statusRank", "reason", "finishedAt", "updatedAt", "history", "userId")
    assert {name: ours[name] for name in shared} == {name: reference[name] for name in shared}


def test_a_start_failure_never_moves_a_summary_backwards(enrichment_dynamodb: Any) -> None:
    table = EnrichmentTable(ENRICHMENT_TABLE, enrichment_dynamodb)
    table.record_received(submission(), AT)
    final = workflow_writes(enrichment_dynamodb, status="COMPLETE")

    table.record_start_failure("cat-1", ENRICH_ID, "late", AT)
    table.record_received(submission(), AT)

    # No batch was recorded of the 2 planned: complete, with failures.
    assert final["reason"] == "2 of 2 batches were not recorded"
    assert summary_item(enrichment_dynamodb) | {"statusRank": 0} == final | {"statusRank": 0}


def test_a_start_failure_of_an_unknown_enrichment_writes_nothing(enrichment_dynamodb: Any) -> None:
    EnrichmentTable(ENRICHMENT_TABLE, enrichment_dynamodb).record_start_failure(
        "cat-1", ENRICH_ID, "x", AT
    )

    assert enrichment_dynamodb.scan(TableName=ENRICHMENT_TABLE)["Items"] == []


class SmallPages:
    """Queries answer at most ``page_size`` items a page (moto never pages by size)."""

    def __init__(self, client: Any, page_size: int) -> None:
        self.client = client
        self.page_size = page_size
        self.requests: list[dict[str, Any]] = []

    def query(self, **request: Any) -> Any:
        self.requests.append(request)
        limit = min(request.pop("Limit", self.page_size), self.page_size)
        return self.client.query(**request, Limit=limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_batch_rows_are_read_consistently_across_pages_in_batch_order(
    enrichment_dynamodb: Any,
) -> None:
    for index in (3, 0, 4, 1, 2):
        workflow_writes(
            enrichment_dynamodb,
            status="ENRICHED",
            batchId=f"{ENRICH_ID}#batch-{index:05d}",
            enriched=index,
            failed=0,
        )
    workflow_writes(enrichment_dynamodb, status="PLANNED", totalProducts=10, totalBatches=5)
    paged = SmallPages(enrichment_dynamodb, page_size=2)

    rows = list(EnrichmentTable(ENRICHMENT_TABLE, paged).batch_rows("cat-1", ENRICH_ID))

    assert [row["batchIndex"] for row in rows] == [0, 1, 2, 3, 4]
    assert len(paged.requests) == 3
    assert all(request["ConsistentRead"] for request in paged.requests)


def test_a_users_rows_are_listed_newest_first_across_pages(enrichment_dynamodb: Any) -> None:
    table = EnrichmentTable(ENRICHMENT_TABLE, enrichment_dynamodb)
    for minute in range(5):
        table.record_received(
            submission(f"enr-{minute:032d}", catalog_id=f"cat-{minute}"),
            f"2024-03-02T09:0{minute}:00Z",
        )
    table.record_received(submission("enr-other", user_id="u-2"), "2024-03-02T09:09:00Z")
    paged = SmallPages(enrichment_dynamodb, page_size=2)
    listing = EnrichmentTable(ENRICHMENT_TABLE, paged)

    first = listing.list_by_user("u-1", 3, None)
    last = first[-1]
    rest = listing.list_by_user("u-1", 3, (last["createdAt"], last["catalogId"], last["batchId"]))

    assert [row["catalogId"] for row in first] == ["cat-4", "cat-3", "cat-2"]
    assert [row["catalogId"] for row in rest] == ["cat-1", "cat-0"]
    assert all(request["ScanIndexForward"] is False for request in paged.requests)
    assert all("statusRank" not in row for row in first + rest)
