"""Lambda entry point of enrich_batch: a Map item in, the batch's counts out; or a plan.

- ``{"action": "plan", "trackingId", "catalogId", "batchSize", "productsPointer"}`` -> the plan
  (:mod:`functions.enrich_batch.planning`);
- ``{"trackingId", "catalogId", "batchIndex", "item"}`` -> ``{"batchId", "enriched", "failed",
  "failures"}`` (:mod:`functions.enrich_batch.core`).

Errors the workflow routes on: ``ProviderThrottledError``, ``ProviderUnavailableError`` and
``TransientDependencyError`` (retried); ``CatalogSourceError``, ``InvalidEnvelopeError``,
``ConfigurationError`` and ``ProviderRejectedError`` (permanent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions._shared.errors import (
    CatalogSourceError,
    ConfigurationError,
    InvalidEnvelopeError,
    ProviderThrottledError,
    ProviderUnavailableError,
)
from functions._shared.parsing import parse_envelope
from functions._shared.scaffold import (
    ENVELOPE_REJECTED,
    Failure,
    Scaffold,
    dependency_failed,
)
from functions._shared.settings import load_settings
from functions.enrich_batch.adapters import (
    DynamoDbProductStore,
    HttpProviderTransport,
    S3CatalogStore,
    SecretApiKeySource,
)
from functions.enrich_batch.core import (
    PLAN_ACTION,
    BatchOutcome,
    BatchRequest,
    PlanRequest,
    enrich_products,
)
from functions.enrich_batch.planning import plan_catalog
from functions.enrich_batch.provider import (
    GARBAGE,
    CallStats,
    Deadline,
    ProviderClient,
    ProviderRejectedError,
)
from functions.enrich_batch.settings import EnrichSettings

# Kept free at the end of the invocation for the products' writes after the lookups (20
# PutItems with the SDK's own retries), so a lookup never runs into the function's timeout.
WRITE_RESERVE_SECONDS: Final = 15.0

settings = load_settings(EnrichSettings)
catalogs = S3CatalogStore(settings.staging_bucket)
products = DynamoDbProductStore(settings.products_table)
api_keys = SecretApiKeySource(settings.secret_name, max_age_seconds=settings.secret_max_age_seconds)
transport = HttpProviderTransport(
    settings.provider_url, connect_timeout=settings.connect_timeout_seconds
)
# Module attributes so tests can wait without waiting: every wait between provider attempts
# goes through ``sleep`` (already multiplied by LOCAL_TIME_SCALE), and ``clock`` measures
# the invocation's deadline.
sleep: Callable[[float], None] = time.sleep
clock: Callable[[], float] = time.monotonic

scaffold = Scaffold(
    [
        ENVELOPE_REJECTED,
        Failure((CatalogSourceError,), "CatalogsRejected", "Catalog source unusable"),
        Failure(
            (ProviderThrottledError, ProviderUnavailableError),
            "ProviderGaveUp",
            "The provider kept failing; the workflow will retry the batch",
            details=lambda error: {"errorType": type(error).__name__, "reason": str(error)},
        ),
        dependency_failed("A dependency of enrich_batch failed; the workflow will retry"),
        Failure(
            (ConfigurationError, ProviderRejectedError),
            "EnrichErrors",
            "enrich_batch cannot work with its configuration",
            traceback=True,
        ),
        Failure((Exception,), "EnrichErrors", "enrich_batch failed unexpectedly", traceback=True),
    ]
)
logger, metrics = scaffold.logger, scaffold.metrics


@scaffold.entry
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    remaining = context.get_remaining_time_in_millis() / 1000
    return handle(event, Deadline(clock() + remaining - WRITE_RESERVE_SECONDS, clock))


def handle(event: Any, deadline: Deadline | None = None) -> dict[str, Any]:
    """The handler without Lambda's decorators and failure reports; ``deadline`` bounds the
    provider's retries.

    Example::

        handle({"trackingId": "enr-1", "catalogId": "cat-1", "batchIndex": 0,
                "item": [{"asin": "B000123456"}]})
        # {'batchId': 'enr-1#batch-00000', 'enriched': 1, 'failed': 0, 'failures': []}
    """
    if isinstance(event, dict) and "action" in event:
        return plan(event)
    return enrich(event, deadline or Deadline(clock=clock))


def plan(event: dict[str, Any]) -> dict[str, Any]:
    if event["action"] != PLAN_ACTION:
        raise InvalidEnvelopeError(
            f"unknown action {event['action']!r}; the only action is {PLAN_ACTION!r}"
        )
    request = parse_envelope(event, PlanRequest)
    pointer = request.products_pointer
    logger.append_keys(catalogId=request.catalog_id, catalog=pointer.uri)
    result = plan_catalog(
        catalogs.catalog_chunks(pointer),
        source=pointer.uri,
        tracking_id=request.tracking_id,
        batch_size=request.batch_size,
        writer=catalogs,
    )
    metrics.add_metric(name="CatalogsPlanned", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="BatchesPlanned", unit=MetricUnit.Count, value=len(result.batches))
    logger.info(
        "Catalog planned",
        extra={"totalProducts": result.total_products, "totalBatches": len(result.batches)},
    )
    return result.to_json()


def enrich(event: Any, deadline: Deadline) -> dict[str, Any]:
    request = parse_envelope(event, BatchRequest)
    logger.append_keys(catalogId=request.catalog_id, batchId=request.batch_id)
    pointer = request.pointer
    if pointer is not None:
        if pointer.batch_id is not None and pointer.batch_id != request.batch_id:
            # The plan and the Map number batches alike; a mismatch means the plan was edited
            # or mixed up, and storing products under either id would misreport the batch.
            raise InvalidEnvelopeError(
                f"item.batchId is {pointer.batch_id!r} but batch {request.batch_index} of "
                f"{request.tracking_id} is {request.batch_id!r}"
            )
        batch = catalogs.read_batch(pointer.pointer)
    else:
        batch = request.inline_products or []
    client = ProviderClient(
        transport,
        api_keys,
        settings.policy(),
        sleep=sleep,
        read_timeout=settings.read_timeout_seconds,
    )
    try:
        outcome = enrich_products(
            batch,
            catalog_id=request.catalog_id,
            tracking_id=request.tracking_id,
            batch_id=request.batch_id,
            lookups=client,
            store=products,
            now=datetime.now(UTC),
            deadline=deadline,
        )
    finally:
        _observe_calls(client.stats)
    _observe(outcome)
    return outcome.to_json()


def _observe_calls(stats: CallStats) -> None:
    metrics.add_metric(name="ProviderRequests", unit=MetricUnit.Count, value=stats.requests)
    if stats.retries:
        metrics.add_metric(name="ProviderRetries", unit=MetricUnit.Count, value=stats.retries)
    if stats.throttled:
        # Sustained throttling means the Map's concurrency is above what the key allows.
        metrics.add_metric(name="ProviderThrottled", unit=MetricUnit.Count, value=stats.throttled)
    if stats.failures:
        metrics.add_metric(name="ProviderFailures", unit=MetricUnit.Count, value=stats.failures)


def _observe(outcome: BatchOutcome) -> None:
    metrics.add_metric(name="BatchesEnriched", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ProductsEnriched", unit=MetricUnit.Count, value=outcome.enriched)
    metrics.add_metric(name="ProductsNotEnriched", unit=MetricUnit.Count, value=outcome.failed)
    garbage = sum(1 for failure in outcome.failures if failure.reason.startswith(GARBAGE))
    if garbage:
        # Separate from "unknown": garbage is the provider misbehaving, worth an alarm.
        metrics.add_metric(name="ProviderGarbage", unit=MetricUnit.Count, value=garbage)
    logger.info(
        "Batch enriched",
        extra={
            **outcome.to_json(),
            "failures": len(outcome.failures),
            "stored": outcome.stored,
        },
    )
