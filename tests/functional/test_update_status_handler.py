"""update_status's Lambda against DynamoDB: derived statuses, never backwards, bounded records;
for enrichments, batch rows written once and final counts summed from them."""

from __future__ import annotations

import copy
import json
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions._shared.dynamodb import from_item
from functions._shared.errors import (
    ConfigurationError,
    InvalidEnvelopeError,
    TransientDependencyError,
)
from functions.update_status.adapters import DynamoDbEnrichmentStore, DynamoDbStatusStore
from tests.events import load_event
from tests.functional.conftest import (
    ENRICHMENT_STATUS_TABLE,
    QUARANTINE_BUCKET,
    STATUS_TABLE,
    FakeLambdaContext,
    HandlerLoader,
    emitted_metrics,
)

TRACKING_ID = "trk-20240302-7f3c9a"


@pytest.fixture
def update_status(load_handler: HandlerLoader, dynamodb: Any) -> ModuleType:
    return load_handler("update_status")


def stored_item(dynamodb: Any, tracking_id: str = TRACKING_ID) -> dict[str, Any]:
    response = dynamodb.get_item(TableName=STATUS_TABLE, Key={"trackingId": {"S": tracking_id}})
    return from_item(response["Item"])


def status_update(status: str | None = None, **fields: Any) -> dict[str, Any]:
    update: dict[str, Any] = {"trackingId": TRACKING_ID, "source": "api", **fields}
    if status is not None:
        update["status"] = status
    return update


@pytest.mark.usefixtures("quarantine_bucket")
def test_the_ingest_path_ends_accepted_with_its_counts_and_rejections(
    load_handler: HandlerLoader, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    validated = load_handler("validate").lambda_handler(
        load_event("ingest_envelope.json"), lambda_context
    )
    deduplicated = load_handler("dedupe").lambda_handler(validated, lambda_context)

    record = load_handler("update_status").lambda_handler(deduplicated, lambda_context)

    assert record["trackingId"] == TRACKING_ID
    assert record["status"] == "ACCEPTED"
    assert record["counts"] == {
        "received": 6,
        "valid": 4,
        "rejected": 2,
        "fresh": 4,
        "duplicates": 0,
    }
    assert record["rejected"] == validated["rejected"]
    assert (record["rejectedTotal"], record["duplicates"], record["duplicatesTotal"]) == (2, [], 0)
    assert record["history"] == [{"status": "ACCEPTED", "at": record["updatedAt"]}]
    assert "statusRank" not in record
    assert record == {
        key: value for key, value in stored_item(dynamodb).items() if key != "statusRank"
    }


def test_a_late_lower_status_never_moves_the_record_backwards(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    accepted = update_status.lambda_handler(status_update("ACCEPTED"), lambda_context)
    delivered = update_status.lambda_handler(
        load_event("status_update_delivered.json"), lambda_context
    )

    late = update_status.lambda_handler(status_update("ACCEPTED"), lambda_context)

    assert delivered["status"] == late["status"] == "DELIVERED"
    assert late == delivered
    assert [step["status"] for step in late["history"]] == ["ACCEPTED", "DELIVERED"]
    assert stored_item(dynamodb)["status"] == "DELIVERED"
    assert accepted["createdAt"] == late["createdAt"]


def test_the_same_status_again_is_a_no_op(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    first = update_status.lambda_handler(status_update("DELIVERED"), lambda_context)

    again = update_status.lambda_handler(
        status_update("DELIVERED", counts={"received": 99}), lambda_context
    )

    assert again == first
    assert len(again["history"]) == 1


def test_counts_are_replaced_not_added_on_each_forward_step(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    update_status.lambda_handler(status_update("RECEIVED", counts={"received": 6}), lambda_context)

    record = update_status.lambda_handler(
        status_update("ACCEPTED", counts={"received": 6, "valid": 4}), lambda_context
    )

    assert record["counts"] == {"received": 6, "valid": 4}


def test_a_batch_with_nothing_valid_is_recorded_rejected_with_its_reasons(
    load_handler: HandlerLoader,
    dynamodb: Any,
    quarantine_bucket: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    validated = load_handler("validate").lambda_handler(
        load_event("ingest_envelope_junk.json"), lambda_context
    )

    record = load_handler("update_status").lambda_handler(validated, lambda_context)

    assert record["status"] == "REJECTED"
    assert record["reason"] == "none of the 9 events was valid"
    # Each rejected event names where it was kept verbatim, for an operator to resubmit.
    for rejection in record["rejected"]:
        kept = quarantine_bucket.head_object(
            Bucket=QUARANTINE_BUCKET, Key=rejection["quarantineKey"]
        )
        assert kept["Metadata"]["tracking-id"] == record["trackingId"]
    assert len(record["rejected"]) == record["rejectedTotal"] == 9


def test_an_empty_batch_is_recorded_rejected(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    empty = status_update(events=[], counts={"received": 0, "valid": 0, "rejected": 0})

    record = update_status.lambda_handler(empty, lambda_context)

    assert (record["status"], record["reason"]) == ("REJECTED", "the batch held no events")


def test_a_batch_of_known_events_is_recorded_duplicate(
    load_handler: HandlerLoader, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    validated = load_event("validated_envelope.json")
    dedupe = load_handler("dedupe")
    dedupe.lambda_handler({**validated, "trackingId": "trk-first"}, lambda_context)
    repeat = dedupe.lambda_handler(validated, lambda_context)

    record = load_handler("update_status").lambda_handler(repeat, lambda_context)

    assert record["status"] == "DUPLICATE"
    assert record["duplicates"] == [event["eventHeader"]["uuid"] for event in validated["events"]]


def test_a_reason_is_kept_only_while_its_status_stands(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    parked = update_status.lambda_handler(load_event("status_update_parked.json"), lambda_context)

    delivered = update_status.lambda_handler(status_update("DELIVERED"), lambda_context)

    assert parked["reason"].startswith("CircuitOpenError: ")
    assert "reason" not in delivered
    assert [step["status"] for step in delivered["history"]] == ["PARKED", "DELIVERED"]


def test_the_workflow_failure_path_records_failed_with_its_error(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    # The payload of the ingest workflow's "Record failure" state.
    failure = {
        "trackingId": TRACKING_ID,
        "status": "FAILED",
        "error": "TransientDependencyError",
        "cause": json.dumps({"errorMessage": "claim: ThrottlingException", "stackTrace": []}),
    }

    record = update_status.lambda_handler(failure, lambda_context)

    assert record["status"] == "FAILED"
    assert record["reason"] == "TransientDependencyError: claim: ThrottlingException"


def test_a_terminal_failure_is_marked_for_dedupe_but_not_answered(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    failure = {"trackingId": TRACKING_ID, "status": "FAILED", "terminal": True, "error": "X"}

    record = update_status.lambda_handler(failure, lambda_context)

    assert stored_item(dynamodb)["terminal"] is True
    assert "terminal" not in record


def test_a_delivered_record_carries_the_archive_key_and_its_rejections(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    # The payload of the workflows' "Record delivery" state.
    rejection = {"index": 1, "eventId": "e-2", "errors": [{"field": "$", "reason": "bad"}]}
    delivered = status_update(
        "DELIVERED",
        counts={"received": 2, "valid": 1, "rejected": 1, "fresh": 1, "duplicates": 0},
        archive={"bucket": "archive", "key": "bundles/ab/ab12.ndjson.gz", "created": True},
        delivery={"statusCode": 200, "idempotencyKey": "ab12", "probe": False},
        rejected=[rejection],
        duplicates=[],
    )

    record = update_status.lambda_handler(delivered, lambda_context)

    assert record["status"] == "DELIVERED"
    assert record["archiveKey"] == "bundles/ab/ab12.ndjson.gz"
    assert (record["rejected"], record["rejectedTotal"]) == ([rejection], 1)
    assert stored_item(dynamodb)["archiveKey"] == record["archiveKey"]


def test_a_huge_rejection_list_is_stored_capped_and_small(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    errors = [{"field": f"entities.{i}.entityHeader", "reason": "x" * 500} for i in range(50)]
    rejected = [{"index": i, "eventId": None, "errors": errors} for i in range(300)]
    counts = {"received": 300, "valid": 0, "rejected": 300}

    record = update_status.lambda_handler(
        status_update(rejected=rejected, counts=counts), lambda_context
    )

    assert (len(record["rejected"]), record["rejectedTotal"]) == (100, 300)
    assert len(json.dumps(stored_item(dynamodb))) < 200_000


def test_an_unknown_status_is_a_malformed_envelope(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    with pytest.raises(InvalidEnvelopeError, match="status"):
        update_status.lambda_handler(status_update("SHIPPED"), lambda_context)


def test_ignored_writes_are_published_as_a_metric(
    update_status: ModuleType, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    update_status.lambda_handler(status_update("DELIVERED"), lambda_context)
    capsys.readouterr()

    update_status.lambda_handler(status_update("BUNDLED"), lambda_context)

    assert emitted_metrics(capsys.readouterr().out)["StaleStatusIgnored"] == 1


class ThrottledClient:
    def update_item(self, **_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "UpdateItem"
        )


def test_throttling_fails_with_the_retryable_error(
    update_status: ModuleType, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        update_status, "status_store", DynamoDbStatusStore(STATUS_TABLE, ThrottledClient())
    )

    with pytest.raises(TransientDependencyError, match="ThrottlingException"):
        update_status.lambda_handler(copy.deepcopy(status_update("DELIVERED")), lambda_context)


def test_a_missing_table_name_fails_the_cold_start(
    load_handler: HandlerLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATUS_TABLE_NAME")

    with pytest.raises(ConfigurationError, match="STATUS_TABLE_NAME is not set"):
        load_handler("update_status")


# --- Enrichments -------------------------------------------------------------------------------

ENRICH_ID = "enr-0123456789abcdef0123456789abcdef"


def enrichment_rows(dynamodb: Any) -> dict[str, dict[str, Any]]:
    """Every row of the enrichment table by sort key, as plain JSON."""
    items = dynamodb.scan(TableName=ENRICHMENT_STATUS_TABLE, ConsistentRead=True)["Items"]
    return {item["batchId"]["S"]: from_item(item) for item in items}


def enriched_batch(index: int, done: int, failed: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "catalogId": "cat-1",
        "trackingId": ENRICH_ID,
        "batchId": f"{ENRICH_ID}#batch-{index:05d}",
        "status": "ENRICHED",
        "enriched": done,
        "failed": failed,
        "failures": [{"productId": f"asin:B{n:09d}", "reason": "unknown"} for n in range(failed)],
        **fields,
    }


def catalog_update(status: str, **fields: Any) -> dict[str, Any]:
    return {"catalogId": "cat-1", "trackingId": ENRICH_ID, "status": status, **fields}


def test_an_inline_catalog_ends_complete_with_failures_counted_from_its_batches(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    planned = update_status.lambda_handler(
        load_event("update_status_enrich_planned.json"), lambda_context
    )
    batch = update_status.lambda_handler(
        load_event("update_status_enrich_batch_enriched.json"), lambda_context
    )
    failed_batch = update_status.lambda_handler(
        load_event("update_status_enrich_batch_failed.json"), lambda_context
    )

    final = update_status.lambda_handler(
        load_event("update_status_enrich_complete.json"), lambda_context
    )

    assert (planned["status"], planned["totalProducts"], planned["totalBatches"]) == (
        "PLANNED",
        6,
        2,
    )
    assert batch == {
        "catalogId": "cat-1",
        "batchId": f"{ENRICH_ID}#batch-00000",
        "trackingId": ENRICH_ID,
        "batchIndex": 0,
        "status": "ENRICHED",
        "enriched": 3,
        "failed": 1,
        "failures": [{"productId": "asin:B000000002", "reason": "unknown to the provider"}],
        "createdAt": batch["createdAt"],
        "updatedAt": batch["createdAt"],
    }
    assert (failed_batch["status"], failed_batch["failed"], failed_batch["enriched"]) == (
        "FAILED",
        2,
        0,
    )
    assert failed_batch["reason"] == "ProviderThrottledError: the provider answered 429 four times"
    assert [failure["productId"] for failure in failed_batch["failures"]] == [
        "ean:4006381333948",
        "asin:B000000006",
    ]
    assert final["status"] == "COMPLETE_WITH_FAILURES"
    assert (final["batchesDone"], final["productsEnriched"], final["productsFailed"]) == (2, 3, 3)
    assert final["reason"] == "3 of 6 products failed"
    assert final["finishedAt"] == final["updatedAt"]
    assert [step["status"] for step in final["history"]] == ["PLANNED", "COMPLETE_WITH_FAILURES"]
    rows = enrichment_rows(dynamodb)
    assert set(rows) == {
        f"{ENRICH_ID}#CATALOG",
        f"{ENRICH_ID}#batch-00000",
        f"{ENRICH_ID}#batch-00001",
    }
    assert all("userId" not in row for key, row in rows.items() if "#batch-" in key)
    assert "statusRank" not in final


def test_a_catalog_without_failures_ends_complete(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    update_status.lambda_handler(
        catalog_update("PLANNED", totalProducts=8, totalBatches=2), lambda_context
    )
    update_status.lambda_handler(enriched_batch(1, 4), lambda_context)
    update_status.lambda_handler(enriched_batch(0, 4), lambda_context)

    final = update_status.lambda_handler(catalog_update("COMPLETE"), lambda_context)

    assert final["status"] == "COMPLETE"
    assert (final["batchesDone"], final["productsEnriched"], final["productsFailed"]) == (2, 8, 0)
    assert "reason" not in final


def test_a_retried_batch_write_never_double_counts(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    first = update_status.lambda_handler(enriched_batch(0, 3, 1), lambda_context)

    retried = update_status.lambda_handler(enriched_batch(0, 3, 1), lambda_context)
    different = update_status.lambda_handler(enriched_batch(0, 0, 4), lambda_context)
    final = update_status.lambda_handler(catalog_update("COMPLETE"), lambda_context)

    assert retried == different == first
    assert enrichment_rows(dynamodb)[f"{ENRICH_ID}#batch-00000"]["enriched"] == 3
    assert (final["batchesDone"], final["productsEnriched"], final["productsFailed"]) == (1, 3, 1)


def test_a_batch_row_never_leaves_enriched_or_failed(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    enriched = update_status.lambda_handler(enriched_batch(0, 4), lambda_context)
    failed = update_status.lambda_handler(
        load_event("update_status_enrich_batch_failed.json"), lambda_context
    )

    late_failure = update_status.lambda_handler(
        catalog_update("FAILED", batchIndex=0, item=[{"asin": "B000000001"}], error="X"),
        lambda_context,
    )
    late_success = update_status.lambda_handler(enriched_batch(1, 2), lambda_context)

    assert late_failure == enriched
    assert late_success == failed
    assert late_success["status"] == "FAILED"


def test_the_summary_never_moves_backwards(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    update_status.lambda_handler(
        catalog_update("PLANNED", totalProducts=4, totalBatches=1), lambda_context
    )
    update_status.lambda_handler(enriched_batch(0, 4), lambda_context)
    done = update_status.lambda_handler(catalog_update("COMPLETE"), lambda_context)

    again = update_status.lambda_handler(catalog_update("COMPLETE"), lambda_context)
    failed = update_status.lambda_handler(
        load_event("update_status_enrich_failed.json"), lambda_context
    )
    planned = update_status.lambda_handler(
        catalog_update("PLANNED", totalProducts=9, totalBatches=3), lambda_context
    )

    assert done["status"] == "COMPLETE"
    assert again == failed == planned == done


class SmallPages:
    """A DynamoDB client whose queries answer at most ``page_size`` items per page (DynamoDB
    pages at 1 MB; moto never does), recording how many pages were read."""

    def __init__(self, client: Any, page_size: int) -> None:
        self.client = client
        self.page_size = page_size
        self.pages = 0

    def query(self, **request: Any) -> Any:
        self.pages += 1
        return self.client.query(**request, Limit=self.page_size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_the_final_counts_sum_every_batch_across_query_pages(
    update_status: ModuleType,
    dynamodb: Any,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paged = SmallPages(dynamodb, page_size=7)
    monkeypatch.setattr(
        update_status, "enrichment_store", DynamoDbEnrichmentStore(ENRICHMENT_STATUS_TABLE, paged)
    )
    update_status.lambda_handler(
        catalog_update("PLANNED", totalProducts=1500, totalBatches=60), lambda_context
    )
    for index in range(60):
        update_status.lambda_handler(enriched_batch(index, 20, 5), lambda_context)

    final = update_status.lambda_handler(catalog_update("COMPLETE"), lambda_context)

    assert (final["batchesDone"], final["productsEnriched"], final["productsFailed"]) == (
        60,
        1200,
        300,
    )
    assert final["status"] == "COMPLETE_WITH_FAILURES"
    assert paged.pages == 9


def test_the_failure_path_records_the_catalog_failed_with_its_reason(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    record = update_status.lambda_handler(
        load_event("update_status_enrich_failed.json"), lambda_context
    )

    assert record["status"] == "FAILED"
    assert record["reason"] == (
        "CatalogSourceError: s3://landing/catalogs/cat-1.ndjson: no such object"
    )
    assert (record["batchesDone"], record["productsEnriched"], record["productsFailed"]) == (
        0,
        0,
        0,
    )
    assert record["finishedAt"] == record["createdAt"]
    assert "totalProducts" not in record


def test_the_summary_the_api_wrote_moves_forward_keeping_user_and_start(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    dynamodb.put_item(
        TableName=ENRICHMENT_STATUS_TABLE,
        Item={
            "catalogId": {"S": "cat-1"},
            "batchId": {"S": f"{ENRICH_ID}#CATALOG"},
            "trackingId": {"S": ENRICH_ID},
            "userId": {"S": "u-1"},
            "status": {"S": "RECEIVED"},
            "statusRank": {"N": "10"},
            "createdAt": {"S": "2024-03-02T09:15:00Z"},
            "history": {"L": [{"M": {"status": {"S": "RECEIVED"}, "at": {"S": "x"}}}]},
        },
    )

    planned = update_status.lambda_handler(
        catalog_update("PLANNED", totalProducts=0, totalBatches=0), lambda_context
    )

    assert (planned["status"], planned["userId"], planned["createdAt"]) == (
        "PLANNED",
        "u-1",
        "2024-03-02T09:15:00Z",
    )
    assert [step["status"] for step in planned["history"]] == ["RECEIVED", "PLANNED"]


def test_an_enrichment_input_never_touches_the_ingest_status_table(
    update_status: ModuleType, dynamodb: Any, lambda_context: FakeLambdaContext
) -> None:
    update_status.lambda_handler(enriched_batch(0, 1), lambda_context)

    assert dynamodb.scan(TableName=STATUS_TABLE)["Items"] == []


def test_a_malformed_enrichment_input_is_a_malformed_envelope(
    update_status: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    with pytest.raises(InvalidEnvelopeError, match="EnrichmentUpdate"):
        update_status.lambda_handler(catalog_update("ENRICHED"), lambda_context)


def test_a_missing_enrichment_table_name_fails_the_cold_start(
    load_handler: HandlerLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENRICHMENT_STATUS_TABLE_NAME")

    with pytest.raises(ConfigurationError, match="ENRICHMENT_STATUS_TABLE_NAME is not set"):
        load_handler("update_status")


class ThrottledEnrichmentClient:
    def __getattr__(self, name: str) -> Any:
        def throttled(**_: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, name)

        return throttled


def test_a_throttled_enrichment_table_fails_with_the_retryable_error(
    update_status: ModuleType, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        update_status,
        "enrichment_store",
        DynamoDbEnrichmentStore(ENRICHMENT_STATUS_TABLE, ThrottledEnrichmentClient()),
    )

    for payload in (enriched_batch(0, 1), catalog_update("COMPLETE")):
        with pytest.raises(TransientDependencyError, match="ThrottlingException"):
            update_status.lambda_handler(payload, lambda_context)
