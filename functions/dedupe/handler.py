"""Lambda entry point of dedupe: validate's envelope in, only the fresh events out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from functions._shared import names
from functions._shared.models import ValidatedEnvelope
from functions._shared.parsing import parse_envelope
from functions._shared.scaffold import Scaffold, step_failures
from functions._shared.settings import load_settings
from functions.dedupe.adapters import DynamoDbClaimStore, DynamoDbHolderStatuses
from functions.dedupe.core import dedupe_envelope

_SEVEN_DAYS_SECONDS = 7 * 86_400


class DedupeSettings(BaseModel):
    table_name: str = Field(alias=names.DEDUPE_TABLE_ENV, min_length=1)
    status_table_name: str = Field(alias=names.STATUS_TABLE_ENV, min_length=1)
    ttl_seconds: int = Field(alias=names.DEDUPE_TTL_SECONDS_ENV, default=_SEVEN_DAYS_SECONDS, gt=0)


settings = load_settings(DedupeSettings)
claim_store = DynamoDbClaimStore(settings.table_name)
holder_statuses = DynamoDbHolderStatuses(settings.status_table_name)

scaffold = Scaffold(step_failures(unavailable="Dedupe table unavailable"))
logger, metrics = scaffold.logger, scaffold.metrics


@scaffold.entry
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    # Claims made before a failure belong to this tracking id, so the retry keeps them.
    envelope = parse_envelope(event, ValidatedEnvelope)
    result = dedupe_envelope(
        envelope,
        claim_store,
        now=datetime.now(UTC),
        ttl_seconds=settings.ttl_seconds,
        holders=holder_statuses,
    )

    fresh, duplicates = result.counts["fresh"], result.counts["duplicates"]
    metrics.add_metric(name="FreshEvents", unit=MetricUnit.Count, value=fresh)
    metrics.add_metric(name="DuplicatesDropped", unit=MetricUnit.Count, value=duplicates)
    if taken_over := result.counts.get("takenOver", 0):
        # Re-sends of events whose first execution failed before delivering them.
        metrics.add_metric(name="ClaimsTakenOver", unit=MetricUnit.Count, value=taken_over)
    logger.info(
        "Batch deduplicated",
        extra={"fresh": fresh, "duplicates": duplicates, "duplicateIds": result.duplicates[:20]},
    )
    return result.to_payload()
