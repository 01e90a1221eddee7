"""Lambda entry point of bundle: fresh events or objects in, a pointer to their bundle out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from functions._shared import names
from functions._shared.aws_errors import error_code
from functions._shared.parsing import parse_envelope
from functions._shared.quarantine import QUARANTINE_KEY_FIELD, QuarantineBucket
from functions._shared.scaffold import Scaffold, step_failures
from functions._shared.settings import load_settings
from functions.bundle.adapters import S3BundleStore
from functions.bundle.core import CODEC, BundleEnvelope, bundle_envelope
from functions.bundle.quarantined import rejected_objects

_GONE_CODES: Final = frozenset({"NoSuchKey", "404", "PreconditionFailed", "412"})


class BundleSettings(BaseModel):
    staging_bucket: str = Field(alias=names.STAGING_BUCKET_ENV, min_length=1)
    landing_bucket: str = Field(alias=names.LANDING_BUCKET_ENV, min_length=1)
    quarantine_bucket: str = Field(alias=names.QUARANTINE_BUCKET_ENV, min_length=1)


settings = load_settings(BundleSettings)
store = S3BundleStore(settings.staging_bucket)
quarantine = QuarantineBucket(settings.quarantine_bucket)

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
        _quarantine(envelope, outcome.payload)
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


def _quarantine(envelope: BundleEnvelope, payload: dict[str, Any]) -> None:
    """Keep each rejected object (as it was when bundled: its ETag must match) in quarantine and
    name the key in its rejection; one replaced or deleted since has no bytes left to keep."""
    objects = envelope.objects or []
    own = payload["rejected"][len(envelope.rejected) :]
    now = datetime.now(UTC)
    for index, ref, item in rejected_objects(envelope.tracking_id, objects, own):
        if ref.bucket != settings.landing_bucket:
            continue  # not a producer's input, and not bundle's to read
        try:
            key = quarantine.keep_copy(item, ref.bucket, ref.key, ref.etag, now)
        except ClientError as error:
            if error_code(error) not in _GONE_CODES:
                raise
            logger.warning(
                "A rejected object was gone before it could be kept", extra={"object": item.origin}
            )
            continue
        for rejection in own:
            if rejection.get("index") == index:
                rejection[QUARANTINE_KEY_FIELD] = key
