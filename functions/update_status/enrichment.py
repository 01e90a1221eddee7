"""update_status for enrichments: the batch rows and the summary row of the enrichment table.

An input with ``catalogId`` addresses the enrichment table (``docs/contracts.md``, "update_status
for enrichments"):

- a batch that was enriched (``ENRICHED`` with ``batchId`` and its counts) or failed for good
  (``FAILED`` with ``batchIndex`` and the Map ``item``: every product of it counts as failed with
  the error's reason) writes its batch row once. A batch row never leaves ENRICHED/FAILED and
  its counts are SET, never added, so a retried write cannot count twice.
- ``PLANNED`` (with the totals) and the final ``COMPLETE``/``COMPLETE_WITH_FAILURES``/``FAILED``
  write the summary row. The final counts are the sums over the batch rows, read with a strongly
  consistent query; whether the catalog is COMPLETE or COMPLETE_WITH_FAILURES follows from them,
  whatever the workflow asked.

Ranks: RECEIVED 10 (the api writes it), PLANNED 20, the final statuses 90; a write ranked not
above the stored row is a no-op answering the stored row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions._shared.enrichment import (
    BATCH_RANKS,
    CATALOG_ID_PATTERN,
    FINAL_RANK,
    MAX_LISTED_BATCH_FAILURES,
    SUMMARY_RANKS,
    EnrichmentStatus,
    ProductProblem,
    batch_id,
    batch_index,
    public_row,
    validate_product,
)
from functions._shared.models import TrackingId, format_utc
from functions._shared.status import RANK_ATTRIBUTE
from functions.update_status.core import (
    MAX_STORED_REASON_LENGTH,
    CaughtError,
    bounded_text,
    failure_reason,
)

NonNegativeCount = Annotated[int, Field(ge=0)]

FINAL_STATUSES: Final = frozenset(
    {
        EnrichmentStatus.COMPLETE,
        EnrichmentStatus.COMPLETE_WITH_FAILURES,
        EnrichmentStatus.FAILED,
    }
)
_SUMMARY_WRITES: Final = frozenset({EnrichmentStatus.PLANNED, *FINAL_STATUSES})
_FAILED_BATCH_REASON: Final = "the batch failed"


class PlannedBatch(BaseModel):
    """A Map item planned from S3: where the batch's products are, and how many."""

    model_config = ConfigDict(extra="ignore")

    batch_id: str | None = Field(default=None, alias="batchId")
    pointer: dict[str, Any] | None = None
    count: NonNegativeCount


class EnrichmentUpdate(BaseModel):
    """update_status's input for the enrichment table (any input with ``catalogId``)."""

    model_config = ConfigDict(extra="ignore")

    catalog_id: str = Field(alias="catalogId", pattern=CATALOG_ID_PATTERN)
    tracking_id: TrackingId = Field(alias="trackingId")
    status: EnrichmentStatus
    batch_id: str | None = Field(default=None, alias="batchId")
    batch_index: NonNegativeCount | None = Field(default=None, alias="batchIndex")
    item: list[Any] | PlannedBatch | None = None
    enriched: NonNegativeCount | None = None
    failed: NonNegativeCount | None = None
    failures: list[Any] = Field(default_factory=list)
    total_products: NonNegativeCount | None = Field(default=None, alias="totalProducts")
    total_batches: NonNegativeCount | None = Field(default=None, alias="totalBatches")
    reason: str | None = None
    error: str | CaughtError | None = None
    cause: str | None = None

    @property
    def is_batch(self) -> bool:
        """Whether this writes a batch row (else the summary row)."""
        return self.status is EnrichmentStatus.ENRICHED or (
            self.status is EnrichmentStatus.FAILED and self.batch_index is not None
        )

    @model_validator(mode="after")
    def _complete_for_its_status(self) -> EnrichmentUpdate:
        if self.status is EnrichmentStatus.RECEIVED:
            raise ValueError("RECEIVED is written by the api, not by the workflow")
        if self.status is EnrichmentStatus.ENRICHED:
            missing = [
                name
                for name, value in (
                    ("batchId", self.batch_id),
                    ("enriched", self.enriched),
                    ("failed", self.failed),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"an ENRICHED batch needs {', '.join(missing)}")
            if batch_index(self.tracking_id, str(self.batch_id)) is None:
                raise ValueError(
                    f"batchId {str(self.batch_id)[:100]!r} is not a batch id of "
                    f"{self.tracking_id} ('{{trackingId}}#batch-{{index:05d}}')"
                )
        elif self.is_batch and self.item is None:
            raise ValueError("a FAILED batch needs its item (the products or their pointer)")
        elif self.status is EnrichmentStatus.PLANNED and (
            self.total_products is None or self.total_batches is None
        ):
            raise ValueError("PLANNED needs totalProducts and totalBatches")
        return self


@dataclass(frozen=True)
class BatchTotals:
    """Sums over an enrichment's batch rows."""

    batches: int = 0
    enriched: int = 0
    failed: int = 0


@dataclass(frozen=True)
class BatchRowWrite:
    """One batch row, final, ready for the store."""

    catalog_id: str
    tracking_id: str
    batch_id: str
    batch_index: int
    status: EnrichmentStatus
    rank: int
    enriched: int
    failed: int
    failures: list[dict[str, Any]]
    reason: str | None
    at: str

    def item(self) -> dict[str, Any]:
        """The row as plain JSON (keys first, then the contract's fields)."""
        row: dict[str, Any] = {
            "catalogId": self.catalog_id,
            "batchId": self.batch_id,
            "trackingId": self.tracking_id,
            "batchIndex": self.batch_index,
            "status": self.status.value,
            RANK_ATTRIBUTE: self.rank,
            "enriched": self.enriched,
            "failed": self.failed,
            "failures": self.failures,
        }
        if self.reason is not None:
            row["reason"] = self.reason
        return row | {"createdAt": self.at, "updatedAt": self.at}


@dataclass(frozen=True)
class SummaryWrite:
    """A write of the summary row: PLANNED with the totals, or final with the sums."""

    catalog_id: str
    tracking_id: str
    status: EnrichmentStatus
    rank: int
    at: str
    total_products: int | None = None
    total_batches: int | None = None
    reason: str | None = None
    totals: BatchTotals | None = None
    """The sums over the batch rows; only a final write carries them."""

    @property
    def is_final(self) -> bool:
        return self.rank >= FINAL_RANK


@dataclass(frozen=True)
class EnrichmentOutcome:
    """The row as stored after the write, and whether this write changed it."""

    record: dict[str, Any]
    applied: bool
    requested: EnrichmentStatus


class EnrichmentStore(Protocol):
    """The enrichment table; every write applies the rank rule atomically."""

    def write_batch(self, write: BatchRowWrite) -> EnrichmentOutcome:
        """Store the batch row unless it exists (ranked as high); answer the stored row."""
        ...

    def read_summary(self, catalog_id: str, tracking_id: str) -> dict[str, Any] | None:
        """The stored summary row (strongly consistent, rank included), or ``None``."""
        ...

    def batch_totals(self, catalog_id: str, tracking_id: str) -> BatchTotals:
        """The sums over every batch row of the enrichment (strongly consistent)."""
        ...

    def write_summary(self, write: SummaryWrite) -> EnrichmentOutcome:
        """Apply ``write`` unless the stored summary ranks as high or higher."""
        ...


def plan_batch(update: EnrichmentUpdate, now: datetime) -> BatchRowWrite:
    """The batch row an ENRICHED or a FAILED batch writes at ``now``.

    >>> from datetime import UTC
    >>> update = EnrichmentUpdate.model_validate({"catalogId": "c", "trackingId": "enr-1",
    ...     "batchIndex": 2, "status": "FAILED", "item": [{"asin": "B000123456"}],
    ...     "error": "ProviderThrottledError", "cause": "429 x4"})
    >>> row = plan_batch(update, datetime(2024, 1, 1, tzinfo=UTC))
    >>> row.batch_id, row.failed
    ('enr-1#batch-00002', 1)
    >>> row.failures
    [{'productId': 'asin:B000123456', 'reason': 'ProviderThrottledError: 429 x4'}]
    """
    status = update.status
    if status is EnrichmentStatus.ENRICHED:
        identity = str(update.batch_id)
        index = batch_index(update.tracking_id, identity)
        assert index is not None  # checked by EnrichmentUpdate
        return BatchRowWrite(
            catalog_id=update.catalog_id,
            tracking_id=update.tracking_id,
            batch_id=identity,
            batch_index=index,
            status=status,
            rank=BATCH_RANKS[status],
            enriched=update.enriched or 0,
            failed=update.failed or 0,
            failures=[
                _bounded_failure(failure) for failure in update.failures[:MAX_LISTED_BATCH_FAILURES]
            ],
            reason=None,
            at=format_utc(now),
        )
    index = update.batch_index if update.batch_index is not None else 0
    reason = bounded_text(
        failure_reason(update.reason, update.error, update.cause) or _FAILED_BATCH_REASON,
        MAX_STORED_REASON_LENGTH,
    )
    item = update.item
    if isinstance(item, PlannedBatch):
        # The products are in S3 and update_status does not read them: the count is exact,
        # the reason is on the row, and no product is listed.
        failed, failures = item.count, []
    else:
        products = item or []
        failed = len(products)
        failures = [
            {"productId": _product_id_or_none(product), "reason": bounded_text(reason)}
            for product in products[:MAX_LISTED_BATCH_FAILURES]
        ]
    return BatchRowWrite(
        catalog_id=update.catalog_id,
        tracking_id=update.tracking_id,
        batch_id=batch_id(update.tracking_id, index),
        batch_index=index,
        status=EnrichmentStatus.FAILED,
        rank=BATCH_RANKS[EnrichmentStatus.FAILED],
        enriched=0,
        failed=failed,
        failures=failures,
        reason=reason,
        at=format_utc(now),
    )


def plan_planned(update: EnrichmentUpdate, now: datetime) -> SummaryWrite:
    """The summary write of PLANNED: the totals, known now even for an S3 catalog."""
    return SummaryWrite(
        catalog_id=update.catalog_id,
        tracking_id=update.tracking_id,
        status=EnrichmentStatus.PLANNED,
        rank=SUMMARY_RANKS[EnrichmentStatus.PLANNED],
        at=format_utc(now),
        total_products=update.total_products,
        total_batches=update.total_batches,
    )


def plan_final(
    update: EnrichmentUpdate,
    totals: BatchTotals,
    stored: Mapping[str, Any] | None,
    now: datetime,
) -> SummaryWrite:
    """The final summary write: FAILED as asked, else COMPLETE or COMPLETE_WITH_FAILURES by the
    sums (a failed product, or a planned batch without a row, makes it WITH_FAILURES).

    >>> from datetime import UTC
    >>> update = EnrichmentUpdate.model_validate(
    ...     {"catalogId": "c", "trackingId": "enr-1", "status": "COMPLETE"})
    >>> now = datetime(2024, 1, 1, tzinfo=UTC)
    >>> plan_final(update, BatchTotals(2, 40, 0), {"totalBatches": 2}, now).status
    <EnrichmentStatus.COMPLETE: 'COMPLETE'>
    >>> write = plan_final(update, BatchTotals(2, 37, 3), {"totalBatches": 2}, now)
    >>> write.status.value, write.reason
    ('COMPLETE_WITH_FAILURES', '3 of 40 products failed')
    """
    if update.status is EnrichmentStatus.FAILED:
        status = EnrichmentStatus.FAILED
        reason: str | None = (
            failure_reason(update.reason, update.error, update.cause) or "the enrichment failed"
        )
    else:
        problems = []
        if totals.failed:
            processed = totals.enriched + totals.failed
            problems.append(f"{totals.failed} of {processed} products failed")
        planned = (stored or {}).get("totalBatches")
        if isinstance(planned, int) and totals.batches < planned:
            problems.append(f"{planned - totals.batches} of {planned} batches were not recorded")
        status = EnrichmentStatus.COMPLETE_WITH_FAILURES if problems else EnrichmentStatus.COMPLETE
        reason = "; ".join(problems) or None
    return SummaryWrite(
        catalog_id=update.catalog_id,
        tracking_id=update.tracking_id,
        status=status,
        rank=SUMMARY_RANKS[status],
        at=format_utc(now),
        reason=bounded_text(reason, MAX_STORED_REASON_LENGTH) if reason else None,
        totals=totals,
    )


def record_enrichment(
    update: EnrichmentUpdate, store: EnrichmentStore, now: datetime
) -> EnrichmentOutcome:
    """update_status's job for the enrichment table; the stored row (without its rank).

    Example::

        outcome = record_enrichment(update, DynamoDbEnrichmentStore("stepflow-dev-enrichment"), now)
    """
    if update.is_batch:
        return store.write_batch(plan_batch(update, now))
    if update.status not in _SUMMARY_WRITES:  # pragma: no cover - EnrichmentUpdate refuses it
        raise ValueError(f"{update.status} is not a summary status")
    if update.status is EnrichmentStatus.PLANNED:
        return store.write_summary(plan_planned(update, now))
    stored = store.read_summary(update.catalog_id, update.tracking_id)
    if stored is not None and int(stored.get(RANK_ATTRIBUTE, 0)) >= FINAL_RANK:
        # Final already (a retry, or a failure after completion): nothing to sum or write.
        return EnrichmentOutcome(record=public_row(stored), applied=False, requested=update.status)
    totals = store.batch_totals(update.catalog_id, update.tracking_id)
    return store.write_summary(plan_final(update, totals, stored, now))


def _product_id_or_none(product: Any) -> str | None:
    verdict = validate_product(product)
    if isinstance(verdict, ProductProblem):
        return None
    return verdict[0]


def _bounded_failure(failure: Any) -> dict[str, Any]:
    if not isinstance(failure, dict):
        return {"productId": None, "reason": bounded_text(str(failure))}
    identity = failure.get("productId")
    reason = failure.get("reason")
    return {
        "productId": bounded_text(str(identity)) if identity is not None else None,
        "reason": bounded_text(str(reason)) if reason is not None else "not enriched",
    }
