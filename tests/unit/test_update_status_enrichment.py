"""update_status's rules for enrichments: which row an input writes, what the row holds, and
that rows never move backwards nor count twice (with an in-memory table of the same rules)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from functions._shared.enrichment import (
    FINAL_RANK,
    MAX_LISTED_BATCH_FAILURES,
    EnrichmentStatus,
    batch_id,
    public_row,
    summary_id,
)
from functions._shared.errors import InvalidEnvelopeError
from functions._shared.parsing import parse_envelope
from functions._shared.status import RANK_ATTRIBUTE
from functions.update_status.core import MAX_STORED_REASON_LENGTH, MAX_STORED_TEXT_LENGTH
from functions.update_status.enrichment import (
    BatchRowWrite,
    BatchTotals,
    EnrichmentOutcome,
    EnrichmentUpdate,
    SummaryWrite,
    plan_batch,
    plan_final,
    record_enrichment,
)
from tests.events import load_event

NOW = datetime(2024, 3, 2, 10, 0, 0, tzinfo=UTC)
LATER = datetime(2024, 3, 2, 10, 5, 0, tzinfo=UTC)
TRACKING_ID = "enr-0123456789abcdef0123456789abcdef"


def update(**fields: Any) -> EnrichmentUpdate:
    return EnrichmentUpdate.model_validate(
        {"catalogId": "cat-1", "trackingId": TRACKING_ID, **fields}
    )


def enriched(index: int, done: int, failed: int = 0, **fields: Any) -> EnrichmentUpdate:
    return update(
        status="ENRICHED",
        batchId=batch_id(TRACKING_ID, index),
        enriched=done,
        failed=failed,
        **fields,
    )


@dataclass
class InMemoryEnrichmentTable:
    """:class:`~functions.update_status.enrichment.EnrichmentStore` in a dict, same rank rule."""

    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    sums: int = 0

    def write_batch(self, write: BatchRowWrite) -> EnrichmentOutcome:
        key = (write.catalog_id, write.batch_id)
        stored = self.rows.get(key)
        applied = stored is None or stored[RANK_ATTRIBUTE] < write.rank
        if applied:
            self.rows[key] = write.item()
        return EnrichmentOutcome(public_row(self.rows[key]), applied, write.status)

    def read_summary(self, catalog_id: str, tracking_id: str) -> dict[str, Any] | None:
        return self.rows.get((catalog_id, summary_id(tracking_id)))

    def batch_totals(self, catalog_id: str, tracking_id: str) -> BatchTotals:
        self.sums += 1
        rows = [
            row
            for (catalog, row_id), row in self.rows.items()
            if catalog == catalog_id and row_id.startswith(f"{tracking_id}#batch-")
        ]
        return BatchTotals(
            batches=len(rows),
            enriched=sum(row["enriched"] for row in rows),
            failed=sum(row["failed"] for row in rows),
        )

    def write_summary(self, write: SummaryWrite) -> EnrichmentOutcome:
        key = (write.catalog_id, summary_id(write.tracking_id))
        stored = self.rows.get(key)
        applied = stored is None or stored[RANK_ATTRIBUTE] < write.rank
        if applied:
            row = dict(stored or {"createdAt": write.at})
            row |= {"status": write.status.value, RANK_ATTRIBUTE: write.rank}
            if write.total_products is not None:
                row["totalProducts"] = write.total_products
            if write.total_batches is not None:
                row["totalBatches"] = write.total_batches
            if write.totals is not None:
                row |= {
                    "batchesDone": write.totals.batches,
                    "productsEnriched": write.totals.enriched,
                    "productsFailed": write.totals.failed,
                    "finishedAt": write.at,
                }
            row["reason"] = write.reason
            self.rows[key] = row
        return EnrichmentOutcome(public_row(self.rows[key]), applied, write.status)


# --- Inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "update_status_enrich_planned.json",
        "update_status_enrich_batch_enriched.json",
        "update_status_enrich_batch_failed.json",
        "update_status_enrich_complete.json",
        "update_status_enrich_failed.json",
    ],
)
def test_the_workflow_payloads_are_accepted(name: str) -> None:
    parsed = parse_envelope(load_event(name), EnrichmentUpdate)

    assert parsed.catalog_id == "cat-1"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"status": "ENRICHED", "enriched": 1, "failed": 0}, "needs batchId"),
        ({"status": "ENRICHED", "batchId": f"{TRACKING_ID}#batch-00000"}, "enriched, failed"),
        (
            {"status": "ENRICHED", "batchId": "enr-other#batch-00000", "enriched": 1, "failed": 0},
            "is not a batch id of",
        ),
        ({"status": "FAILED", "batchIndex": 3}, "needs its item"),
        ({"status": "PLANNED", "totalProducts": 3}, "totalProducts and totalBatches"),
        ({"status": "RECEIVED"}, "written by the api"),
        ({"status": "SHIPPED"}, "status"),
        ({}, "status"),
        ({"status": "FAILED", "batchIndex": -1, "item": []}, "batchIndex"),
        ({"status": "FAILED", "batchIndex": 0, "item": {"batchId": "x"}}, "count"),
        (
            {"status": "ENRICHED", "batchId": f"{TRACKING_ID}#batch-00000", "enriched": -1},
            "enriched",
        ),
        ({"status": "COMPLETE", "catalogId": "bad catalog"}, "catalogId"),
        ({"status": "COMPLETE", "trackingId": ""}, "trackingId"),
    ],
)
def test_an_incomplete_input_is_a_malformed_envelope(fields: dict[str, Any], words: str) -> None:
    payload = {"catalogId": "cat-1", "trackingId": TRACKING_ID, **fields}

    with pytest.raises(InvalidEnvelopeError, match=words):
        parse_envelope(payload, EnrichmentUpdate)


def test_which_row_an_input_writes() -> None:
    assert enriched(0, 1).is_batch
    assert update(status="FAILED", batchIndex=0, item=[]).is_batch
    assert not update(status="FAILED", error="CatalogSourceError").is_batch
    assert not update(status="PLANNED", totalProducts=1, totalBatches=1).is_batch
    with pytest.raises(ValidationError):
        update(status="ENRICHED")


# --- Batch rows --------------------------------------------------------------------------------


def test_an_enriched_batch_row_holds_its_counts_and_capped_failures() -> None:
    failures = [{"productId": f"asin:B{index:09d}", "reason": "unknown"} for index in range(80)]

    row = plan_batch(enriched(7, 20, 80, failures=failures), NOW)

    assert (row.batch_id, row.batch_index) == (f"{TRACKING_ID}#batch-00007", 7)
    assert (row.status, row.rank) == (EnrichmentStatus.ENRICHED, FINAL_RANK)
    assert (row.enriched, row.failed) == (20, 80)
    assert len(row.failures) == MAX_LISTED_BATCH_FAILURES == 50
    assert row.failures[0] == {"productId": "asin:B000000000", "reason": "unknown"}
    assert row.reason is None
    assert row.item()["createdAt"] == row.item()["updatedAt"] == "2024-03-02T10:00:00Z"


def test_failure_entries_of_any_shape_are_stored_bounded() -> None:
    failures: list[Any] = [
        {"productId": "asin:B000000001", "reason": "x" * 5000, "raw": "y" * 5000},
        {"productId": None},
        "not an object",
    ]

    row = plan_batch(enriched(0, 0, 3, failures=failures), NOW)

    assert row.failures[0]["reason"].endswith("...")
    assert len(row.failures[0]["reason"]) == MAX_STORED_TEXT_LENGTH
    assert "raw" not in row.failures[0]
    assert row.failures[1] == {"productId": None, "reason": "not enriched"}
    assert row.failures[2] == {"productId": None, "reason": "not an object"}


def test_a_failed_inline_batch_counts_every_product_failed_with_the_reason() -> None:
    cause = json.dumps({"errorMessage": "429 after 4 attempts", "stackTrace": ["..."]})
    products = [{"asin": f"B{index:09d}"} for index in range(60)] + [{"sku": "no id"}]

    row = plan_batch(
        update(
            status="FAILED",
            batchIndex=2,
            item=products,
            error="ProviderThrottledError",
            cause=cause,
        ),
        NOW,
    )

    assert (row.batch_id, row.status) == (f"{TRACKING_ID}#batch-00002", EnrichmentStatus.FAILED)
    assert (row.enriched, row.failed) == (0, 61)
    assert row.reason == "ProviderThrottledError: 429 after 4 attempts"
    assert len(row.failures) == 50
    assert row.failures[0] == {"productId": "asin:B000000000", "reason": row.reason}


def test_a_failed_batch_planned_from_s3_counts_its_products_and_lists_none() -> None:
    item = {
        "batchId": f"{TRACKING_ID}#batch-00004",
        "pointer": {"bucket": "staging", "key": "k"},
        "count": 20,
    }

    row = plan_batch(
        update(status="FAILED", batchIndex=4, item=item, error={"Error": "States.Timeout"}),
        NOW,
    )

    assert (row.batch_id, row.failed, row.failures) == (f"{TRACKING_ID}#batch-00004", 20, [])
    assert row.reason == "States.Timeout"


def test_a_failed_batch_without_error_details_still_says_why() -> None:
    row = plan_batch(update(status="FAILED", batchIndex=0, item=[]), NOW)

    assert (row.reason, row.failed) == ("the batch failed", 0)


def test_a_long_cause_is_stored_bounded() -> None:
    row = plan_batch(
        update(status="FAILED", batchIndex=0, item=[{}], error="E", cause="c" * 10_000), NOW
    )

    assert row.reason is not None
    assert len(row.reason) == MAX_STORED_REASON_LENGTH


# --- Summary row -------------------------------------------------------------------------------


def complete() -> EnrichmentUpdate:
    return update(status="COMPLETE")


def test_complete_when_every_product_was_enriched() -> None:
    write = plan_final(complete(), BatchTotals(3, 60, 0), {"totalBatches": 3}, NOW)

    assert (write.status, write.reason, write.rank) == (EnrichmentStatus.COMPLETE, None, 90)
    assert write.totals == BatchTotals(3, 60, 0)
    assert write.is_final


def test_complete_with_failures_when_a_product_failed() -> None:
    write = plan_final(complete(), BatchTotals(3, 58, 2), {"totalBatches": 3}, NOW)

    assert write.status is EnrichmentStatus.COMPLETE_WITH_FAILURES
    assert write.reason == "2 of 60 products failed"


def test_complete_with_failures_when_a_planned_batch_has_no_row() -> None:
    write = plan_final(complete(), BatchTotals(2, 40, 0), {"totalBatches": 3}, NOW)

    assert write.status is EnrichmentStatus.COMPLETE_WITH_FAILURES
    assert write.reason == "1 of 3 batches were not recorded"


def test_the_sums_decide_whatever_the_workflow_asked() -> None:
    asked = update(status="COMPLETE_WITH_FAILURES")

    assert plan_final(asked, BatchTotals(1, 4, 0), None, NOW).status is EnrichmentStatus.COMPLETE


def test_failed_keeps_its_reason_and_the_sums_so_far() -> None:
    failure = update(**load_event("update_status_enrich_failed.json"))

    write = plan_final(failure, BatchTotals(1, 3, 1), None, NOW)

    assert write.status is EnrichmentStatus.FAILED
    assert write.reason == "CatalogSourceError: s3://landing/catalogs/cat-1.ndjson: no such object"
    assert write.totals == BatchTotals(1, 3, 1)


# --- The whole job -----------------------------------------------------------------------------


def test_a_catalog_from_plan_to_complete_with_failures() -> None:
    table = InMemoryEnrichmentTable()

    record_enrichment(update(status="PLANNED", totalProducts=6, totalBatches=2), table, NOW)
    record_enrichment(enriched(0, 3, 1), table, NOW)
    record_enrichment(
        update(status="FAILED", batchIndex=1, item=[{"asin": "B000000005"}, {"asin": "B0000006"}]),
        table,
        NOW,
    )
    outcome = record_enrichment(complete(), table, LATER)

    assert outcome.applied
    record = outcome.record
    assert record["status"] == "COMPLETE_WITH_FAILURES"
    assert (record["batchesDone"], record["productsEnriched"], record["productsFailed"]) == (
        2,
        3,
        3,
    )
    assert record["finishedAt"] == "2024-03-02T10:05:00Z"
    assert RANK_ATTRIBUTE not in record


def test_a_retried_batch_never_counts_twice_nor_changes() -> None:
    table = InMemoryEnrichmentTable()
    first = record_enrichment(enriched(0, 4, 0), table, NOW)

    retry = record_enrichment(enriched(0, 4, 0), table, LATER)
    other = record_enrichment(enriched(0, 1, 3), table, LATER)
    failed_later = record_enrichment(
        update(status="FAILED", batchIndex=0, item=[{"asin": "B000000001"}]), table, LATER
    )

    assert first.applied
    assert not retry.applied
    assert not other.applied
    assert not failed_later.applied
    assert failed_later.record == first.record
    assert table.batch_totals("cat-1", TRACKING_ID) == BatchTotals(1, 4, 0)


def test_a_final_summary_is_final_and_is_not_summed_again() -> None:
    table = InMemoryEnrichmentTable()
    record_enrichment(enriched(0, 4), table, NOW)
    done = record_enrichment(complete(), table, NOW)
    sums = table.sums

    again = record_enrichment(complete(), table, LATER)
    failed = record_enrichment(update(status="FAILED", error="X"), table, LATER)
    planned = record_enrichment(
        update(status="PLANNED", totalProducts=9, totalBatches=9), table, LATER
    )

    assert done.record["status"] == "COMPLETE"
    assert not again.applied
    assert not failed.applied
    assert not planned.applied
    assert again.record == failed.record == planned.record == done.record
    assert table.sums == sums
