"""Lambda entry point of validate: parse the envelope, judge its events, report.

Input and output are the ingest envelope of ``docs/contracts.md``. Bad events are answers, not
failures; only an unusable envelope raises (:class:`InvalidEnvelopeError`).
"""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions._shared.errors import InvalidEnvelopeError
from functions._shared.models import IngestEnvelope
from functions._shared.observability import CORRELATION_ID_PATH, metrics_namespace
from functions._shared.parsing import parse_envelope
from functions.validate.core import validate_envelope

# Enough rejections in one log line to diagnose a batch without copying a huge batch into logs.
_REJECTIONS_LOGGED: Final = 20

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=metrics_namespace())


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        envelope = parse_envelope(event, IngestEnvelope)
    except InvalidEnvelopeError as error:
        metrics.add_metric(name="EnvelopesRejected", unit=MetricUnit.Count, value=1)
        logger.warning("Envelope rejected", extra={"reason": str(error)})
        raise
    logger.append_keys(source=envelope.source)

    validated = validate_envelope(envelope)

    counts = validated.counts
    metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=counts["received"])
    metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=counts["rejected"])
    # Field paths and reasons only: event content may hold personal data (owners, VINs).
    logger.info(
        "Batch validated",
        extra={
            "counts": counts,
            "rejected": [
                {
                    "index": rejection["index"],
                    "fields": [error["field"] for error in rejection["errors"]],
                }
                for rejection in validated.rejected[:_REJECTIONS_LOGGED]
            ],
        },
    )
    return validated.to_payload()
