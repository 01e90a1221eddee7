"""Lambda entry point of update_status: any envelope in, the stored status record out.

An EventBridge execution status change fails the status record of the execution that ended
(:mod:`functions.update_status.execution_events`).
A queued batch's update is recorded for every request it carries too
(:mod:`functions.update_status.carried`).
An input with ``catalogId`` is an enrichment's (batch or summary row of the enrichment table,
see :mod:`functions.update_status.enrichment`); any other is an ingest envelope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from functions._shared import names
from functions._shared.parsing import parse_envelope
from functions._shared.scaffold import Scaffold, step_failures
from functions._shared.settings import load_settings
from functions.update_status.adapters import DynamoDbEnrichmentStore, DynamoDbStatusStore
from functions.update_status.carried import carried_updates
from functions.update_status.core import StatusOutcome, StatusUpdate, record_status
from functions.update_status.enrichment import (
    EnrichmentOutcome,
    EnrichmentUpdate,
    record_enrichment,
)
from functions.update_status.execution_events import (
    is_execution_status_event,
    record_execution_outcome,
)


class UpdateStatusSettings(BaseModel):
    table_name: str = Field(alias=names.STATUS_TABLE_ENV, min_length=1)
    enrichment_table_name: str = Field(alias=names.ENRICHMENT_STATUS_TABLE_ENV, min_length=1)


settings = load_settings(UpdateStatusSettings)
status_store = DynamoDbStatusStore(settings.table_name)
enrichment_store = DynamoDbEnrichmentStore(settings.enrichment_table_name)

scaffold = Scaffold(step_failures(unavailable="Status table unavailable"))
logger, metrics = scaffold.logger, scaffold.metrics


@scaffold.entry
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    if is_execution_status_event(event):
        # An execution that ended without its own status step (EventBridge, asynchronously).
        stored = record_execution_outcome(
            event, status_store, enrichment_store, now=datetime.now(UTC)
        )
        metrics.add_metric(name="ExecutionOutcomeRecorded", unit=MetricUnit.Count, value=1)
        logger.info("Execution outcome recorded", extra={"status": stored.get("status")})
        return stored
    outcome: StatusOutcome | EnrichmentOutcome
    if isinstance(event, dict) and names.ENRICHMENT_KEY in event:
        enrichment = parse_envelope(event, EnrichmentUpdate)
        logger.append_keys(trackingId=enrichment.tracking_id, catalogId=enrichment.catalog_id)
        outcome = record_enrichment(enrichment, enrichment_store, now=datetime.now(UTC))
    else:
        update = parse_envelope(event, StatusUpdate)
        now = datetime.now(UTC)
        outcome = record_status(update, status_store, now=now)
        _record_carried(update, now)

    record = outcome.record
    if outcome.applied:
        metrics.add_metric(name="StatusRecorded", unit=MetricUnit.Count, value=1)
        logger.info("Status recorded", extra={"status": record.get("status")})
    else:
        # Expected on retries and late steps; frequent ones point at a workflow ordering bug.
        metrics.add_metric(name="StaleStatusIgnored", unit=MetricUnit.Count, value=1)
        logger.info(
            "Status kept: the stored one ranks as high or higher",
            extra={"stored": record.get("status"), "requested": outcome.requested},
        )
    return record


def _record_carried(update: StatusUpdate, now: datetime) -> None:
    # After the batch's own record: a retry of this step rewrites them all, forward only.
    carried = carried_updates(update)
    for share in carried:
        record_status(share, status_store, now=now)
    if carried:
        metrics.add_metric(name="CarriedStatusRecorded", unit=MetricUnit.Count, value=len(carried))
