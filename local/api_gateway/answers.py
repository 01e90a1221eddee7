"""What the front door answers: a function's answer by payload 2.0 rules, or its own errors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final

# Headers that belong to one connection, never forwarded from a function's answer.
_HOP_BY_HOP: Final = frozenset(
    {"connection", "content-length", "keep-alive", "transfer-encoding", "upgrade", "date"}
)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # Why the gateway answered an error itself (logged, never sent).
    reason: str | None = None


def error_response(
    status: int,
    reason: str | None = None,
    *,
    message: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> Response:
    """API Gateway's own error answer: ``{"message": "<reason phrase>"}`` unless ``message``
    says otherwise (an authorizer's refusal names what was wrong with the signature)."""
    text = message or _ERROR_MESSAGES.get(status) or HTTPStatus(status).phrase
    body = json.dumps({"message": text}, separators=(",", ":")).encode()
    return Response(status, [("content-type", "application/json"), *headers], body, reason)


_ERROR_MESSAGES: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _MalformedAnswerError(Exception):
    """The function's answer is not a response API Gateway can send (it answers 500)."""


def proxy_response(payload: bytes) -> Response:
    """The HTTP response for a function's answer, by API Gateway's payload 2.0 rules.

    An object with ``statusCode`` is a structured answer (``headers``, ``cookies``, ``body``,
    ``isBase64Encoded``); any other valid JSON is the body of a 200 ``application/json``
    answer. Anything else is a malformed answer, which API Gateway reports as a 500.

    >>> proxy_response(b'{"statusCode": 201, "body": "made"}').status
    201
    >>> proxy_response(b'{"ok": true}').body
    b'{"ok": true}'
    """
    try:
        value = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error_response(500, "the function's answer is not JSON")
    if not (isinstance(value, dict) and "statusCode" in value):
        return Response(200, [("content-type", "application/json")], payload)
    try:
        return Response(_status(value), _headers(value), _body(value))
    except _MalformedAnswerError as error:
        return error_response(500, f"malformed answer: {error}")


def _status(answer: dict[str, Any]) -> int:
    status = answer["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise _MalformedAnswerError(f"statusCode {status!r}")
    return status


def _headers(answer: dict[str, Any]) -> list[tuple[str, str]]:
    raw_headers = answer.get("headers")
    raw_headers = {} if raw_headers is None else raw_headers
    if not isinstance(raw_headers, dict):
        raise _MalformedAnswerError("headers is not an object")
    headers: list[tuple[str, str]] = []
    for name, value in raw_headers.items():
        if str(name).lower() in _HOP_BY_HOP or value is None:
            continue
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        headers.append((str(name), _header_safe(text)))
    cookies = answer.get("cookies")
    cookies = [] if cookies is None else cookies
    if not isinstance(cookies, list):
        raise _MalformedAnswerError("cookies is not a list")
    return headers + [("set-cookie", _header_safe(str(cookie))) for cookie in cookies]


def _body(answer: dict[str, Any]) -> bytes:
    body = answer.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise _MalformedAnswerError("body is not a string")
    if not answer.get("isBase64Encoded"):
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise _MalformedAnswerError("body is not valid base64") from None


def _header_safe(value: str) -> str:
    # A function must not be able to split the response by putting a newline in a header.
    return value.replace("\r", " ").replace("\n", " ")
