"""pydantic's validation errors in the words of the JSON a producer wrote."""

from __future__ import annotations

from typing import Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from functions._shared.models import FieldError, json_type_name

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
