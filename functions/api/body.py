"""A request body read as strictly as untrusted input deserves: UTF-8 JSON, or a clear 4xx.

The checks run cheapest first and each names what is wrong; none can crash on hostile input
(deep nesting is refused before the JSON is parsed, see ``loads_json`` in ``_shared.parsing``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

from functions._shared.parsing import MAX_JSON_DEPTH, JsonTextError, loads_json
from functions._shared.validation import WHOLE_VALUE
from functions.api.errors import ApiError, field_error

JSON_MEDIA_TYPE: Final = "application/json"
MAX_BODY_BYTES: Final = 1_048_576
"""Bodies above this are refused unread (413): four times what one execution can carry."""

_CONTENT_TYPE_FIELD: Final = "header.Content-Type"


def read_json_body(
    headers: Mapping[str, str], body: str | None, is_base64_encoded: bool = False
) -> Any:
    """The parsed JSON of a request body, or :class:`ApiError` (400, 413 or 415) saying why not.

    ``headers`` are looked up case-insensitively; ``body`` and ``is_base64_encoded`` are the
    payload-2.0 fields of the same names.

    >>> read_json_body({"content-type": "application/json"}, '{"a": [1]}')
    {'a': [1]}
    >>> read_json_body({"Content-Type": "text/plain"}, "{}")
    Traceback (most recent call last):
    ...
    functions.api.errors.ApiError: Content-Type must be application/json, got text/plain
    """
    if body is None or body == "":
        raise _bad_request("the request has no body; send JSON", "is empty")
    _require_json_content_type(headers)
    text = _decoded_text(body, is_base64_encoded)
    if not text.strip():
        raise _bad_request("the request body holds only whitespace; send JSON", "is empty")
    try:
        return loads_json(text, max_depth=MAX_JSON_DEPTH)
    except JsonTextError as error:
        raise _bad_request(f"the request body {error.reason}", error.reason) from None


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` whatever the case of its key.

    >>> header_value({"Content-Type": "application/json"}, "content-type")
    'application/json'
    """
    wanted = name.lower()
    value = headers.get(wanted)
    if value is not None:
        return value
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _require_json_content_type(headers: Mapping[str, str]) -> None:
    content_type = header_value(headers, "content-type")
    if content_type is None or not content_type.strip():
        raise ApiError(
            415,
            f"the request has no Content-Type; send {JSON_MEDIA_TYPE}",
            [field_error(_CONTENT_TYPE_FIELD, f"is required and must be {JSON_MEDIA_TYPE}")],
        )
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != JSON_MEDIA_TYPE:
        shown = media_type if len(media_type) <= 100 else f"{media_type[:97]}..."
        raise ApiError(
            415,
            f"Content-Type must be {JSON_MEDIA_TYPE}, got {shown}",
            [field_error(_CONTENT_TYPE_FIELD, f"must be {JSON_MEDIA_TYPE}")],
        )
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in {"utf-8", "utf8"}:
            raise ApiError(
                415,
                f"the body must be UTF-8, not {charset[:40] or 'an empty charset'}",
                [field_error(_CONTENT_TYPE_FIELD, "charset must be utf-8")],
            )


def _decoded_text(body: str, is_base64_encoded: bool) -> str:
    if is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_request(
                "the request body is marked base64-encoded but is not valid base64",
                "is not valid base64",
            ) from None
    else:
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError as error:
            raise _not_utf8(error.start) from None
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(
            413,
            f"the request body is {len(raw):,} bytes; at most {MAX_BODY_BYTES:,} bytes are read, "
            "and at most 262,144 bytes of events fit one execution: split the events into "
            "several requests",
            [field_error(WHOLE_VALUE, f"must be at most {MAX_BODY_BYTES} bytes")],
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(error.start, raw[error.start]) from None


def _not_utf8(position: int, byte: int | None = None) -> ApiError:
    found = f" (byte 0x{byte:02x} at offset {position})" if byte is not None else ""
    where = found or f" (at character {position})"
    return _bad_request(f"the request body is not valid UTF-8{where}", f"is not valid UTF-8{where}")


def _bad_request(message: str, reason: str) -> ApiError:
    return ApiError(400, message, [field_error(WHOLE_VALUE, reason)])
