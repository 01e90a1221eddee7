"""Lambda entry point of claim_check, the Pipes enrichment of every SQS pipe.

A batch of SQS records in (a JSON array, as Pipes deliver it); the same records out when they
fit the target's input, else a one-element array with a pointer to them in the staging bucket
(:mod:`functions.claim_check.core`). A failure fails the enrichment, and Pipes then leave the
whole batch on the queue for redelivery.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from functions._shared import names
from functions._shared.errors import InvalidEnvelopeError
from functions._shared.scaffold import Scaffold, step_failures
from functions._shared.settings import load_settings
from functions.claim_check.adapters import S3BatchStore
from functions.claim_check.core import claim_check


class ClaimCheckSettings(BaseModel):
    staging_bucket: str = Field(alias=names.STAGING_BUCKET_ENV, min_length=1)


settings = load_settings(ClaimCheckSettings)
store = S3BatchStore(settings.staging_bucket)

scaffold = Scaffold(step_failures(unavailable="S3 unavailable"))
logger, metrics = scaffold.logger, scaffold.metrics


@scaffold.entry
def lambda_handler(event: Any, context: LambdaContext) -> list[Any]:
    if not isinstance(event, list):
        raise InvalidEnvelopeError(
            f"a Pipes enrichment gets a JSON array of records, got {type(event).__name__}"
        )
    checked = claim_check(event, store)
    if checked.stored:
        metrics.add_metric(name="BatchesClaimChecked", unit=MetricUnit.Count, value=1)
        logger.info(
            "Batch stored behind a pointer",
            extra={"records": len(event), "bytes": checked.size, "pointer": checked.payload[0]},
        )
    return checked.payload
