"""Lambda input parsed with Powertools Parser; an unusable envelope is a permanent failure."""

from __future__ import annotations

from typing import Any, TypeVar

from aws_lambda_powertools.utilities.parser import parse
from pydantic import BaseModel, ValidationError

from functions._shared.errors import InvalidEnvelopeError
from functions._shared.validation import field_errors

EnvelopeT = TypeVar("EnvelopeT", bound=BaseModel)

# An envelope with thousands of wrong fields still gets a readable, bounded error message.
_MAX_PROBLEMS_IN_MESSAGE = 20


def parse_envelope(event: Any, model: type[EnvelopeT]) -> EnvelopeT:
    """Parse a Lambda's input into ``model`` with Powertools Parser, or fail permanently.

    Raises :class:`InvalidEnvelopeError` naming every wrong field, so the workflow fails with a
    message an operator can act on and does not retry an input that cannot get better.

    Example::

        envelope = parse_envelope({"trackingId": "trk-1", "events": []}, IngestEnvelope)
    """
    try:
        return parse(event=event, model=model)
    except ValidationError as error:
        problems = "; ".join(
            f"{problem.field}: {problem.reason}"
            for problem in field_errors(error, limit=_MAX_PROBLEMS_IN_MESSAGE)
        )
        raise InvalidEnvelopeError(f"malformed {model.__name__}: {problems}") from None
