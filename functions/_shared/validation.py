"""The event rules applied to a batch, and pydantic's errors in the words of the JSON a producer
wrote.

validate (in the workflow) and the API (before anything starts) both judge events with
:func:`validate_batch`, so the API refuses exactly what the workflow would reject. Every event is
judged on its own, so one bad event never costs the others; an event is either normalised or
rejected with every wrong field and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from functions._shared.json_values import json_value_problems
from functions._shared.models import (
    Event,
    FieldError,
    Rejection,
    canonical_event_uuid,
    json_type_name,
)

WHOLE_VALUE: Final = "$"
"""The ``field`` of an error about the value itself rather than one of its fields."""

# pydantic's own wording names Python types ("valid dictionary or instance of EntityHeader");
# producers write JSON, so the common cases are reworded in JSON's terms.
_REASON_TEMPLATES: Final = {
    "missing": "is required",
    "model_type": "must be a JSON object, got {given}",
    "model_attributes_type": "must be a JSON object, got {given}",
    "dict_type": "must be a JSON object, got {given}",
    "list_type": "must be a JSON array, got {given}",
    "string_too_short": "must not be empty",
}


def field_errors(error: ValidationError, limit: int | None = None) -> list[FieldError]:
    """Each error as a dotted path (``entities.0.entityHeader.entityId``) and a reason.

    With ``limit``, at most that many are listed, then one more entry counts the rest.

    Example::

        try:
            Event.model_validate({"entities": []})
        except ValidationError as error:
            field_errors(error)  # [FieldError(field="eventHeader", reason="is required"), ...]
    """
    details = error.errors(include_url=False)
    shown = details if limit is None else details[:limit]
    found = [
        FieldError(field=_dotted_path(detail) or WHOLE_VALUE, reason=_reason(detail))
        for detail in shown
    ]
    if len(details) > len(shown):
        not_listed = len(details) - len(shown)
        found.append(FieldError(field=WHOLE_VALUE, reason=f"{not_listed} more errors not listed"))
    return found


def _dotted_path(detail: ErrorDetails) -> str:
    return ".".join(str(part) for part in detail["loc"])


def _reason(detail: ErrorDetails) -> str:
    kind = detail["type"]
    if kind == "too_short" and detail["loc"] == ("entities",):
        return "must hold at least one entity"
    if kind.startswith(("datetime_", "date_from")):
        cause = (detail.get("ctx") or {}).get("error")
        return f"is not a valid date-time ({cause})" if cause else "is not a valid date-time"
    template = _REASON_TEMPLATES.get(kind)
    if template is None:
        return detail["msg"]
    return template.format(given=json_type_name(detail.get("input")))


# Enough to fix any realistic event, and a bound on the output: one event of 200 KB of junk
# entities would otherwise yield tens of thousands of errors and overflow the state limit.
MAX_ERRORS_PER_EVENT: Final = 50


@dataclass(frozen=True)
class BatchVerdict:
    """Valid events (normalised, JSON-ready) and rejections, both in batch order."""

    valid: list[dict[str, Any]]
    rejected: list[Rejection]


UNJUDGED_REASON: Final = "could not be validated"
"""The start of the reason given when judging an event raised: a defect, never the producer's."""


def check_event(raw_event: object) -> Event | list[FieldError]:
    """The parsed event, or every reason it is not one (at most :data:`MAX_ERRORS_PER_EVENT`).

    Total: whatever ``raw_event`` is, the answer is a verdict, never an exception. Values that
    are not plain JSON anywhere in the event (``NaN``, ``inf``, lone surrogates, nesting over
    :data:`~functions._shared.json_values.MAX_JSON_DEPTH`) are rejected before the schema runs.

    >>> errors = check_event({"entities": []})
    >>> [error.field for error in errors]
    ['eventHeader', 'entities']
    >>> [error.field for error in check_event({"entities": [{"mileage": float("inf")}]})]
    ['entities.0.mileage']
    """
    problems = json_value_problems(raw_event, limit=MAX_ERRORS_PER_EVENT)
    if problems:
        return [FieldError(field=path, reason=reason) for path, reason in problems]
    try:
        return Event.model_validate(raw_event)
    except ValidationError as error:
        return field_errors(error, limit=MAX_ERRORS_PER_EVENT)
    # A defect in judging one event must not cost the others in its batch.
    except Exception as error:
        reason = f"{UNJUDGED_REASON} ({type(error).__name__}); report it to the pipeline's owners"
        return [FieldError(field=WHOLE_VALUE, reason=reason)]


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


def _event_id_of(raw_event: object) -> str | None:
    if not isinstance(raw_event, dict):
        return None
    header = raw_event.get("eventHeader")
    return canonical_event_uuid(header.get("uuid")) if isinstance(header, dict) else None
