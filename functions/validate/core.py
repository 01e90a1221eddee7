"""Judge a batch of raw events against the event schema; no I/O.

Every event is judged on its own, so one bad event never costs the others; an event is either
normalised into ``events`` or listed in ``rejected`` with every wrong field and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from functions._shared.models import (
    Event,
    FieldError,
    IngestEnvelope,
    Rejection,
    ValidatedEnvelope,
    canonical_event_uuid,
)
from functions._shared.validation import field_errors

# Enough to fix any realistic event, and a bound on the output: one event of 200 KB of junk
# entities would otherwise yield tens of thousands of errors and overflow the state limit.
MAX_ERRORS_PER_EVENT: Final = 50


@dataclass(frozen=True)
class BatchVerdict:
    """Valid events (normalised, JSON-ready) and rejections, both in batch order."""

    valid: list[dict[str, Any]]
    rejected: list[Rejection]


def check_event(raw_event: object) -> Event | list[FieldError]:
    """The parsed event, or every reason it is not one (at most :data:`MAX_ERRORS_PER_EVENT`).

    >>> errors = check_event({"entities": []})
    >>> [error.field for error in errors]
    ['eventHeader', 'entities']
    """
    try:
        return Event.model_validate(raw_event)
    except ValidationError as error:
        return field_errors(error, limit=MAX_ERRORS_PER_EVENT)


def validate_batch(raw_events: Sequence[object]) -> BatchVerdict:
    """Split ``raw_events`` (any JSON values) into valid and rejected; never raises for content.

    Within the batch, the first valid event of a uuid is kept and later valid ones are rejected.

    >>> verdict = validate_batch(["junk"])
    >>> verdict.valid, verdict.rejected[0].errors[0].field
    ([], '$')
    """
    valid: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    first_index_of_uuid: dict[str, int] = {}
    for index, raw_event in enumerate(raw_events):
        verdict = check_event(raw_event)
        if isinstance(verdict, list):
            rejected.append(
                Rejection(index=index, event_id=_event_id_of(raw_event), errors=verdict)
            )
            continue
        event_id = verdict.event_header.uuid
        first_index = first_index_of_uuid.setdefault(event_id, index)
        if first_index != index:
            reason = (
                f"repeats the uuid of the event at index {first_index} of this batch; "
                "only the first is kept"
            )
            rejected.append(
                Rejection(
                    index=index,
                    event_id=event_id,
                    errors=[FieldError(field="eventHeader.uuid", reason=reason)],
                )
            )
            continue
        valid.append(verdict.to_payload())
    return BatchVerdict(valid=valid, rejected=rejected)


def validate_envelope(envelope: IngestEnvelope) -> ValidatedEnvelope:
    """validate's whole job: the envelope with valid ``events``, ``rejected`` and ``counts``.

    Keys of the envelope that validate does not own are passed on unchanged.

    >>> envelope = IngestEnvelope.model_validate({"trackingId": "trk-1", "events": []})
    >>> validate_envelope(envelope).counts
    {'received': 0, 'valid': 0, 'rejected': 0}
    """
    verdict = validate_batch(envelope.events)
    return ValidatedEnvelope.model_validate(
        {
            **envelope.to_payload(),
            "events": verdict.valid,
            "rejected": [rejection.model_dump(by_alias=True) for rejection in verdict.rejected],
            "duplicates": [],
            "counts": {
                "received": len(envelope.events),
                "valid": len(verdict.valid),
                "rejected": len(verdict.rejected),
            },
        }
    )


def _event_id_of(raw_event: object) -> str | None:
    if not isinstance(raw_event, dict):
        return None
    header = raw_event.get("eventHeader")
    return canonical_event_uuid(header.get("uuid")) if isinstance(header, dict) else None
