"""Lambda entry point of bundle: fresh events or objects in, a pointer to their bundle out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from functions._shared import names
from functions._shared.parsing import parse_envelope
from functions._shared.scaffold import Scaffold, step_failures
from functions._shared.settings import load_settings
from functions.bundle.adapters import S3BundleStore
from functions.bundle.core import CODEC, BundleEnvelope, bundle_envelope


class BundleSettings(BaseModel):
    staging_bucket: str = Field(alias=names.STAGING_BUCKET_ENV, min_length=1)
    landing_bucket: str = Field(alias=names.LANDING_BUCKET_ENV, min_length=1)


settings = load_settings(BundleSettings)
store = S3BundleStore(settings.staging_bucket)

scaffold = Scaffold(step_failures(unavailable="S3 unavailable"))
logger, metrics = scaffold.logger, scaffold.metrics


@scaffold.entry
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    # On a failure the upload is aborted; a retry starts a new one under a new key.
    envelope = parse_envelope(event, BundleEnvelope)
    outcome = bundle_envelope(envelope, store, store, landing_bucket=settings.landing_bucket)

    stats = outcome.stats
    metrics.add_metric(name="BundledRecords", unit=MetricUnit.Count, value=stats.count)
    metrics.add_metric(name="BundleBytes", unit=MetricUnit.Bytes, value=stats.size)
    if outcome.rejected_objects:
        metrics.add_metric(
            name="ObjectsRejected", unit=MetricUnit.Count, value=len(outcome.rejected_objects)
        )
        logger.warning(
            "Objects left out of the bundle",
            extra={"rejectedObjects": outcome.rejected_objects[:20]},
        )
    logger.info(
        "Bundle staged",
        extra={
            "bundleKey": outcome.key,
            "sha256": stats.sha256,
            "count": stats.count,
            "size": stats.size,
            "parts": stats.parts,
            "attempts": outcome.attempts,
            "codec": CODEC.name,
        },
    )
    return outcome.payload
