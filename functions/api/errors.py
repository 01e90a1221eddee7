"""What the API answers when it cannot do what was asked: an HTTP status and a JSON body.

Every error body has the same shape, ``{"message": "...", "errors": [...]}``: ``message`` for a
person, ``errors`` naming each wrong field for a program (``index`` is the event's position in
the request when the problem is in an event).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from functions._shared.errors import StepflowError

RETRY_AFTER_SECONDS: Final = 5
"""What ``Retry-After`` says when a dependency is unavailable: long enough for a blip to pass."""


class ApiError(StepflowError):
    """A request the API answers with ``status`` and an error body instead of doing it.

    Example::

        raise ApiError(415, "Content-Type must be application/json, got text/plain")
    """

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer.

        >>> ApiError(400, "bad", [field_error("$", "is empty")]).body()
        {'message': 'bad', 'errors': [{'field': '$', 'reason': 'is empty'}]}
        """
        return {"message": self.message, "errors": self.errors}


class DependencyUnavailableError(StepflowError):
    """A dependency (DynamoDB, Step Functions) failed; the client should retry later (503)."""


def field_error(field: str, reason: str, index: int | None = None) -> dict[str, Any]:
    """One entry of an error body's ``errors``; ``index`` only for a problem inside an event.

    >>> field_error("eventHeader.uuid", "is required", index=2)
    {'index': 2, 'field': 'eventHeader.uuid', 'reason': 'is required'}
    """
    entry: dict[str, Any] = {} if index is None else {"index": index}
    return entry | {"field": field, "reason": reason}
