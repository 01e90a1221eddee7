"""Judge a batch of raw events against the event schema; no I/O.

Every event is judged on its own, so one bad event never costs the others; an event is either
normalised into ``events`` or listed in ``rejected`` with every wrong field and why.
"""

from __future__ import annotations

from functions._shared.models import IngestEnvelope, ValidatedEnvelope
from functions._shared.validation import (
    MAX_ERRORS_PER_EVENT,
    BatchVerdict,
    check_event,
    validate_batch,
)

# The rules live in functions/_shared/validation.py, so that the API (another deployment
# package) refuses exactly what this step would reject.
__all__ = [
    "MAX_ERRORS_PER_EVENT",
    "BatchVerdict",
    "check_event",
    "validate_batch",
    "validate_envelope",
]


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
            "rejected": [rejection.to_payload() for rejection in verdict.rejected],
            "duplicates": [],
            "counts": {
                "received": len(envelope.events),
                "valid": len(verdict.valid),
                "rejected": len(verdict.rejected),
            },
        }
    )
