"""How an authorizer refuses a request: the status, message and headers API Gateway answers."""

from __future__ import annotations

from collections.abc import Sequence


class AccessDeniedError(Exception):
    """A request the route's authorization refuses; the front door answers it, nothing runs.

    ``message`` is the ``{"message": ...}`` API Gateway sends; ``reason`` is only logged.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = tuple(headers)


def header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    """Every value of one header, in order, by case-insensitive name."""
    wanted = name.lower()
    return [value for key, value in headers if key.lower() == wanted]


def single_header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """A header's value (repeated headers joined by commas, as HTTP allows), or ``None``."""
    values = header_values(headers, name)
    return ",".join(values) if values else None
