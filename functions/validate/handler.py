"""Lambda entry point of validate: read the input, judge its events, report.

The input is the ingest envelope, a Pipes batch of SQS records (events, lists, envelopes or S3
notifications), or a pointer to such a batch that claim_check stored; the output is the envelope
of ``docs/contracts.md``. Messages of a Pipes batch whose events the output has no room for go
back to the ingest queue (named in ``requeued``). Bad events and bad messages are answers, not
failures; only an unusable input raises (:class:`InvalidEnvelopeError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from functions._shared import names
from functions._shared.models import IngestEnvelope, ValidatedEnvelope
from functions._shared.parsing import parse_envelope
from functions._shared.quarantine import QuarantineBucket, RejectedInput
from functions._shared.scaffold import ENVELOPE_REJECTED, Scaffold, dependency_failed
from functions._shared.settings import load_settings
from functions.validate.adapters import S3BatchReader
from functions.validate.core import validate_envelope
from functions.validate.quarantined import (
    rejected_api_events,
    rejected_messages,
    with_quarantine_keys,
)
from functions.validate.requeue import QueueRequeuer
from functions.validate.sources import (
    REQUEUED_KEY,
    PipeBatch,
    read_pipe_batch,
    screen_records,
    stored_batch_pointer,
)

# Enough rejections in one log line to diagnose a batch without copying a huge batch into logs.
_REJECTIONS_LOGGED: Final = 20


class ValidateSettings(BaseModel):
    staging_bucket: str = Field(alias=names.STAGING_BUCKET_ENV, min_length=1)
    ingest_queue_url: str = Field(alias=names.INGEST_QUEUE_URL_ENV, min_length=1)
    quarantine_bucket: str = Field(alias=names.QUARANTINE_BUCKET_ENV, min_length=1)


settings = load_settings(ValidateSettings)
batches = S3BatchReader(settings.staging_bucket)
ingest_queue = QueueRequeuer(settings.ingest_queue_url)
quarantine = QuarantineBucket(settings.quarantine_bucket)

scaffold = Scaffold(
    [ENVELOPE_REJECTED, dependency_failed("S3 or SQS unavailable for a batch; will retry")]
)
logger, metrics = scaffold.logger, scaffold.metrics


@scaffold.entry
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    test_events = 0
    if isinstance(event, list):
        pointer = stored_batch_pointer(event)
        if pointer is not None:
            logger.info("Reading a stored batch", extra={"batchPointer": pointer.model_dump()})
            event = batches.read(pointer)
        records, refused = screen_records(event)
        batch = parse_envelope(records, PipeBatch)
        validated, test_events = read_pipe_batch(batch, refused)
        _requeue(batch, validated)
        bodies = [record.model_dump(by_alias=True) for record in batch.root]
        validated = _quarantine(validated, rejected_messages(validated, bodies), "messageId")
    else:
        envelope = parse_envelope(event, IngestEnvelope)
        validated = validate_envelope(envelope)
        kept = rejected_api_events(validated, envelope.events)
        validated = _quarantine(validated, kept, "index")
    # A Pipes batch carries no tracking id until validate derives one.
    logger.set_correlation_id(validated.tracking_id)
    logger.append_keys(source=validated.source)
    _report(validated, test_events)
    return validated.to_payload()


def _quarantine(
    validated: ValidatedEnvelope, kept: Mapping[Any, RejectedInput], named_by: str
) -> ValidatedEnvelope:
    """Keep each rejected input verbatim, then name its key in the rejections it stands for
    (by ``messageId`` for queue messages, by ``index`` for an envelope's events)."""
    if not kept:
        return validated
    now = datetime.now(UTC)
    keys = {name: quarantine.keep(item, now) for name, item in kept.items()}
    logger.info("Rejected inputs kept", extra={"quarantineKeys": sorted(keys.values())[:20]})
    return with_quarantine_keys(validated, keys, named_by)


def _requeue(batch: PipeBatch, validated: ValidatedEnvelope) -> None:
    requeued = set(validated.model_extra.get(REQUEUED_KEY, []) if validated.model_extra else [])
    if not requeued:
        return
    # A retry after a partial send queues some of these twice; dedupe claims each event uuid
    # once, so every event is still delivered exactly once.
    ingest_queue.send([record.body for record in batch.root if record.message_id in requeued])
    logger.info("Messages sent back to the queue", extra={"requeued": sorted(requeued)})


def _report(validated: ValidatedEnvelope, test_events: int) -> None:
    counts = validated.counts
    metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=counts["received"])
    metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=counts["rejected"])
    if test_events:
        logger.info("S3 test events ignored", extra={"testEvents": test_events})
    # Field paths and reasons only: event content may hold personal data (owners, VINs).
    logger.info(
        "Batch validated",
        extra={
            "counts": counts,
            "rejected": [
                {
                    "index": rejection["index"],
                    "fields": [error["field"] for error in rejection["errors"]],
                    **({"messageId": rejection["messageId"]} if "messageId" in rejection else {}),
                }
                for rejection in validated.rejected[:_REJECTIONS_LOGGED]
            ],
        },
    )
