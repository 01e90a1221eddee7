"""Request bodies: every way a body can be wrong is a 4xx naming the problem, never a crash."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from functions._shared.parsing import (
    MAX_JSON_DEPTH,
    JsonTextError,
    json_nesting_depth,
    loads_json,
)
from functions.api.body import MAX_BODY_BYTES, header_value, read_json_body
from functions.api.errors import ApiError

JSON_HEADERS = {"content-type": "application/json"}


def refusal(
    body: str | None, headers: dict[str, str] | None = None, is_base64: bool = False
) -> ApiError:
    with pytest.raises(ApiError) as caught:
        read_json_body(JSON_HEADERS if headers is None else headers, body, is_base64)
    return caught.value


def test_a_json_body_is_parsed() -> None:
    assert read_json_body(JSON_HEADERS, '{"a": [1, "x"]}') == {"a": [1, "x"]}


def test_a_base64_body_is_decoded_first() -> None:
    body = base64.b64encode(json.dumps({"make": "Škoda"}).encode()).decode()

    assert read_json_body(JSON_HEADERS, body, is_base64_encoded=True) == {"make": "Škoda"}


@pytest.mark.parametrize("body", [None, ""], ids=["absent", "empty"])
def test_no_body_is_a_400(body: str | None) -> None:
    error = refusal(body)

    assert error.status == 400
    assert "no body" in error.message
    assert error.errors == [{"field": "$", "reason": "is empty"}]


def test_a_body_of_only_whitespace_counts_as_empty() -> None:
    error = refusal(" \n\t ")

    assert (error.status, error.errors[0]["reason"]) == (400, "is empty")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "is not valid JSON: Expecting property name enclosed in double quotes"),
        ("car created", "is not valid JSON: Expecting value at line 1 column 1"),
        ('{"a": 1,}', "is not valid JSON"),
        ('{"a": NaN}', "NaN is not a JSON number"),
        ("[Infinity]", "Infinity is not a JSON number"),
        ("1" * 5000, "is not valid JSON: Exceeds the limit"),
        ('\ufeff{"a": 1}', "is not valid JSON"),
    ],
    ids=["truncated", "text", "trailing-comma", "nan", "infinity", "huge-int", "bom"],
)
def test_text_that_is_not_json_is_a_400_saying_why(text: str, reason: str) -> None:
    error = refusal(text)

    assert error.status == 400
    assert error.errors[0]["field"] == "$"
    assert error.errors[0]["reason"].startswith(reason) or reason in error.errors[0]["reason"]
    assert error.message.startswith("the request body ")


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "application/jsonx"},
        {"content-type": "  "},
        {},
    ],
    ids=["text", "form", "lookalike", "blank", "absent"],
)
def test_a_body_that_is_not_declared_json_is_a_415(headers: dict[str, str]) -> None:
    error = refusal('{"a": 1}', headers)

    assert error.status == 415
    assert "application/json" in error.message
    assert error.errors[0]["field"] == "header.Content-Type"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
        "application/json; charset=utf8",
    ],
)
def test_json_with_or_without_a_utf8_charset_is_accepted(content_type: str) -> None:
    assert read_json_body({"Content-Type": content_type}, "[1]") == [1]


def test_another_charset_is_a_415() -> None:
    error = refusal("[1]", {"content-type": "application/json; charset=iso-8859-1"})

    assert error.status == 415
    assert "UTF-8" in error.message
    assert error.errors[0]["reason"] == "charset must be utf-8"


def test_invalid_utf8_is_a_400_naming_the_byte() -> None:
    body = base64.b64encode(b'{"make": "\xff\xfe"}').decode()

    error = refusal(body, is_base64=True)

    assert error.status == 400
    assert error.errors[0]["reason"] == "is not valid UTF-8 (byte 0xff at offset 10)"


def test_a_lone_surrogate_in_the_text_is_not_utf8() -> None:
    error = refusal('{"make": "\udcff"}')

    assert error.status == 400
    assert "not valid UTF-8" in error.errors[0]["reason"]


def test_a_body_marked_base64_that_is_not_is_a_400() -> None:
    error = refusal("{not base64!}", is_base64=True)

    assert (error.status, error.errors[0]["reason"]) == (400, "is not valid base64")


def test_a_body_over_the_read_limit_is_a_413_before_parsing() -> None:
    body = "[" + " " * MAX_BODY_BYTES + "]"

    error = refusal(body)

    assert error.status == 413
    assert "split the events" in error.message


def test_deep_nesting_is_refused_before_parsing() -> None:
    error = refusal("[" * 100_000 + "]" * 100_000)

    assert error.status == 400
    assert error.errors[0]["reason"] == (
        f"is nested 100000 levels deep; at most {MAX_JSON_DEPTH} levels are allowed"
    )


def test_nesting_up_to_the_limit_is_fine() -> None:
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH

    assert isinstance(read_json_body(JSON_HEADERS, text), list)
    assert refusal("[" + text + "]").status == 400


def test_headers_are_found_whatever_their_case() -> None:
    assert header_value({"CONTENT-TYPE": "a"}, "content-type") == "a"
    assert header_value({"content-type": "b"}, "Content-Type") == "b"
    assert header_value({}, "content-type") is None


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("42", 0),
        ("[]", 1),
        ('{"a": {"b": [1]}}', 3),
        ('["[[[[", "]]"]', 1),
        (r'["\"[[[", {"k": "\\"}]', 2),
        ('{"a": "}}}}"}', 1),
    ],
)
def test_nesting_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert json_nesting_depth(text) == depth


def test_unterminated_deep_input_never_raises_anything_but_json_text_error() -> None:
    hostile: list[Any] = ["[" * 5000, '{"a":' * 5000, '"' + "[" * 5000, "[" * 63 + "}" * 63]
    for text in hostile:
        with pytest.raises(JsonTextError):
            loads_json(text)
