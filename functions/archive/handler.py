"""Lambda entry point of archive: an envelope with ``bundle`` in, the same plus ``archive`` out."""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from functions._shared import names
from functions._shared.parsing import parse_envelope
from functions._shared.scaffold import Scaffold, step_failures
from functions._shared.settings import load_settings
from functions.archive.adapters import S3ArchiveStore
from functions.archive.core import ArchiveEnvelope, archive_bundle

# Optional: without it archived bundles are encrypted with SSE-S3 (AES256).
ARCHIVE_KMS_KEY_ENV: Final = "ARCHIVE_KMS_KEY_ID"


class ArchiveSettings(BaseModel):
    archive_bucket: str = Field(alias=names.ARCHIVE_BUCKET_ENV, min_length=1)
    staging_bucket: str = Field(alias=names.STAGING_BUCKET_ENV, min_length=1)
    kms_key_id: str | None = Field(alias=ARCHIVE_KMS_KEY_ENV, default=None, min_length=1)


settings = load_settings(ArchiveSettings)
store = S3ArchiveStore(kms_key_id=settings.kms_key_id)

scaffold = Scaffold(step_failures(unavailable="S3 unavailable"))
logger, metrics = scaffold.logger, scaffold.metrics


@scaffold.entry
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    envelope = parse_envelope(event, ArchiveEnvelope)
    outcome = archive_bundle(
        envelope,
        store,
        archive_bucket=settings.archive_bucket,
        staging_bucket=settings.staging_bucket,
    )

    # A repeat is expected after a retry or a redrive; the content key makes it a no-op.
    name = "BundlesArchived" if outcome.created else "BundlesAlreadyArchived"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    logger.info(
        "Bundle archived" if outcome.created else "Bundle was already archived",
        extra={"archiveKey": outcome.key, "sha256": envelope.bundle.sha256},
    )
    return outcome.payload
